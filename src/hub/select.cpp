#include "hub/select.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "core/json.h"

namespace qwen3::hub {

static std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

static bool ends_with_ci(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && upper(s.substr(s.size() - suffix.size())) == upper(suffix);
}

static std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Whether `word` occurs in `name` bounded by non-alphanumerics (or the ends); both upper case.
static bool has_word(const std::string& name, const std::string& word) {
  for (size_t at = name.find(word); at != std::string::npos; at = name.find(word, at + 1)) {
    bool left = at == 0 || !std::isalnum(static_cast<unsigned char>(name[at - 1]));
    size_t end = at + word.size();
    bool right = end == name.size() || !std::isalnum(static_cast<unsigned char>(name[end]));
    if (left && right) return true;
  }
  return false;
}

std::string pick_gguf(const std::vector<std::string>& repo_files, const std::string& quant) {
  std::vector<std::string> candidates;
  for (const std::string& f : repo_files) {
    std::string base = upper(basename_of(f));
    if (!ends_with_ci(f, ".gguf") || base.find("MMPROJ") != std::string::npos) continue;
    // Split files: NAME-00001-of-00003.gguf; only the first shard names the model.
    size_t of = base.rfind("-OF-");
    if (of != std::string::npos && of >= 6 && base[of - 6] == '-' && base.substr(of - 5, 5) != "00001")
      continue;
    candidates.push_back(f);
  }
  std::sort(candidates.begin(), candidates.end());
  if (candidates.empty()) return "";
  auto first_with = [&](const std::string& tag) -> std::string {
    for (const std::string& f : candidates) {
      std::string base = upper(basename_of(f));
      if (has_word(base.substr(0, base.size() - 5), upper(tag))) return f;
    }
    return "";
  };
  if (!quant.empty()) return first_with(quant);
  for (const char* tag : {"Q4_K_M", "Q4"}) {
    std::string f = first_with(tag);
    if (!f.empty()) return f;
  }
  return candidates.front();
}

static bool needed_for_safetensors(const std::string& path) {
  static const std::set<std::string> kFiles = {
      "config.json",
      "generation_config.json",
      "tokenizer.json",
      "tokenizer_config.json",
      "vocab.json",
      "merges.txt",
      "special_tokens_map.json",
      "added_tokens.json",
      "quantize_config.json",
      "quant_config.json",  // older GPTQ / AWQ repos' quantisation settings
  };
  if (path.find('/') != std::string::npos) return false;  // subfolders hold other formats (onnx/, original/)
  return kFiles.count(path) > 0 || ends_with_ci(path, ".safetensors") ||
         ends_with_ci(path, ".safetensors.index.json");
}

ModelFiles select_model_files(const std::vector<std::string>& repo_files, const std::string& quant,
                              const std::vector<std::string>& include) {
  ModelFiles mf;
  std::set<std::string> chosen;
  bool has_config = std::find(repo_files.begin(), repo_files.end(), "config.json") != repo_files.end();
  bool has_gguf = std::any_of(repo_files.begin(), repo_files.end(),
                              [](const std::string& f) { return ends_with_ci(f, ".gguf"); });
  if (!quant.empty() || (has_gguf && !has_config)) {
    if (!has_gguf) {
      mf.error = "has no GGUF files (drop :" + quant + " for its safetensors)";
    } else {
      mf.gguf = pick_gguf(repo_files, quant);
      if (mf.gguf.empty()) {
        std::string names;
        for (const std::string& f : repo_files)
          if (ends_with_ci(f, ".gguf")) names += (names.empty() ? "" : ", ") + f;
        mf.error = "has no GGUF file for " + quant + " (it has " + names + ")";
      } else {
        chosen.insert(mf.gguf);
      }
    }
  } else if (!has_config) {
    mf.error = "has neither config.json nor a .gguf file: not a model";
  } else {
    for (const std::string& f : repo_files)
      if (needed_for_safetensors(f)) chosen.insert(f);
  }
  for (const std::string& f : repo_files)
    for (const std::string& glob : include)
      if (::fnmatch(glob.c_str(), f.c_str(), 0) == 0) chosen.insert(f);
  mf.files.assign(chosen.begin(), chosen.end());
  return mf;
}

bool safetensors_complete(const std::string& snapshot_dir, const std::vector<std::string>& files) {
  std::set<std::string> have(files.begin(), files.end());
  if (!have.count("config.json")) return false;
  for (const std::string& f : files) {
    if (!ends_with_ci(f, ".safetensors.index.json") || f.find('/') != std::string::npos) continue;
    std::ifstream in(snapshot_dir + "/" + f);
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::ordered_json index;
    if (!try_parse_json(ss.str(), index) || !index.is_object() || !index.contains("weight_map") ||
        !index["weight_map"].is_object())
      return false;
    for (auto& [name, file] : index["weight_map"].items())
      if (!file.is_string() || !have.count(file.get<std::string>())) return false;
    return true;
  }
  return std::any_of(files.begin(), files.end(), [](const std::string& f) {
    return f.find('/') == std::string::npos && ends_with_ci(f, ".safetensors");
  });
}

}  // namespace qwen3::hub
