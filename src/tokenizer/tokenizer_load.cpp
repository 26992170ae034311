// Loading tokenizer.json: every component is checked against what this implementation reproduces exactly;
// anything else is an error naming the component, never a silent approximation. The post_processor is not
// read: it only adds tokens when encode is asked to add special tokens, which this API never does.
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "formats/gguf_reader.h"
#include "tokenizer/split.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/unicode.h"

namespace qwen3 {

using json = nlohmann::json;
using tok::TokenizerData;

namespace {

std::string type_of(const json& j) {
  return j.is_object() && j.contains("type") ? j["type"].dump() : j.dump();
}

bool is_null_or(const json& j, const char* key, const json& ok) {
  return !j.contains(key) || j[key].is_null() || j[key] == ok;
}

void check_normalizer(const json& n, const std::string& origin, bool& nfc) {
  if (n.is_null()) return;
  std::string type = n.value("type", "");
  if (type == "NFC") {
    nfc = true;
  } else if (type == "Sequence" && n.contains("normalizers")) {
    for (const json& sub : n["normalizers"]) check_normalizer(sub, origin, nfc);
  } else {
    throw_error("%s: unsupported normalizer %s (supported: NFC)", origin.c_str(), type_of(n).c_str());
  }
}

void check_pre_tokenizer(const json& p, const std::string& origin) {
  // Supported: Sequence[Split(Qwen2 regex, Isolated), ByteLevel(add_prefix_space=false, use_regex=false)].
  auto bad = [&](const json& what, const char* why) {
    throw_error("%s: unsupported pre_tokenizer %s (%s)", origin.c_str(), type_of(what).c_str(), why);
  };
  if (p.value("type", "") != "Sequence" || !p.contains("pretokenizers") || p["pretokenizers"].size() != 2)
    bad(p, "supported: Sequence of the Qwen2 Split and ByteLevel");
  const json& split = p["pretokenizers"][0];
  const json& bl = p["pretokenizers"][1];
  if (split.value("type", "") != "Split") bad(split, "expected Split first");
  if (!split.contains("pattern") || !split["pattern"].contains("Regex") ||
      split["pattern"]["Regex"].get<std::string>() != tok::kQwen2SplitPattern)
    throw_error("%s: unsupported Split pattern %s (only the Qwen2 regex is implemented)", origin.c_str(),
                split.value("pattern", json()).dump().c_str());
  if (split.value("behavior", "") != "Isolated" || split.value("invert", false))
    throw_error("%s: unsupported Split behavior %s, invert %s (only Isolated without invert)", origin.c_str(),
                split.value("behavior", json()).dump().c_str(), split.value("invert", json()).dump().c_str());
  if (bl.value("type", "") != "ByteLevel") bad(bl, "expected ByteLevel second");
  if (bl.value("add_prefix_space", false) || bl.value("use_regex", true))
    bad(bl, "only add_prefix_space=false, use_regex=false");
}

}  // namespace

// What HF's ByteLevel decoder makes of each token, the byte tokens and the merge table, from d.tokens and
// d.ids (shared by tokenizer.json and GGUF loading).
void tok::build_byte_and_merge_tables(TokenizerData& d,
                                      const std::vector<std::pair<std::string, std::string>>& merges,
                                      const std::string& origin) {
  const size_t n = d.tokens.size();
  // A token's bytes when every char stands for a byte, else the token's own UTF-8.
  d.bytes.assign(n, std::string());
  for (size_t id = 0; id < n; ++id) {
    const std::string& t = d.tokens[id];
    std::string& b = d.bytes[id];
    const auto* s = reinterpret_cast<const unsigned char*>(t.data());
    for (size_t i = 0; i < t.size();) {
      size_t len;
      int v = tok::byte_from_char(tok::decode_utf8(s + i, len));
      if (v < 0) {
        b = t;
        break;
      }
      b.push_back(char(v));
      i += len;
    }
  }
  for (int b = 0; b < 256; ++b) {
    auto it = d.ids.find(tok::bytes_to_token(std::string(1, char(b))));
    QWEN3_CHECK(it != d.ids.end(), "%s: vocab lacks the byte-level token for byte 0x%02x", origin.c_str(), b);
    d.bpe.byte_ids[b] = it->second;
  }

  // Merges: rank = position.
  d.bpe.merges.reserve(merges.size());
  int32_t rank = 0;
  std::string joined;
  for (const auto& [a, b] : merges) {
    joined.assign(a).append(b);
    auto ia = d.ids.find(a), ib = d.ids.find(b), ic = d.ids.find(joined);
    QWEN3_CHECK(ia != d.ids.end() && ib != d.ids.end() && ic != d.ids.end(),
                "%s: merge \"%s %s\" uses a token missing from the vocab", origin.c_str(), a.c_str(),
                b.c_str());
    d.bpe.merges.insert(ia->second, ib->second, rank++, ic->second);
  }
}

Tokenizer Tokenizer::load(const std::string& model_dir) {
  if (gguf::is_gguf_path(model_dir))
    return from_gguf(gguf::read_vocab(gguf::read_file(model_dir)), model_dir);
  std::string path = model_dir + "/tokenizer.json";
  QWEN3_CHECK(file_exists(path), "%s: no tokenizer.json in this directory", model_dir.c_str());
  std::string config_path = model_dir + "/tokenizer_config.json";
  std::string config = file_exists(config_path) ? read_text_file(config_path) : std::string();
  return from_json(read_text_file(path), config, path);
}

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json,
                               const std::string& origin) {
  static std::atomic<uint64_t> next_uid{1};
  auto d = std::make_shared<TokenizerData>();
  d->uid = next_uid++;
  // model.vocab and model.merges (300k JSON values) go straight from the parser into our tables instead of
  // into the DOM, which took most of the load time; the rest of the file is small and read from the DOM.
  int32_t max_id = -1;
  bool has_vocab = false;
  std::vector<std::pair<std::string, std::string>> merges;
  std::string key1, key2, vocab_key;
  auto stream = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
    using E = json::parse_event_t;
    if (ev == E::key && depth <= 3) {
      std::string& k = depth == 1 ? key1 : depth == 2 ? key2 : vocab_key;
      k = parsed.get<std::string>();
      if (depth == 2 && key1 == "model" && key2 == "vocab") has_vocab = true;
      return true;
    }
    if (depth != 3 || key1 != "model") return true;
    if (key2 == "vocab" && ev == E::value) {
      QWEN3_CHECK(
          parsed.is_number_integer() && parsed.get<int64_t>() >= 0 && parsed.get<int64_t>() < INT32_MAX,
          "%s: bad id %s for token %s", origin.c_str(), parsed.dump().c_str(), vocab_key.c_str());
      int32_t id = parsed.get<int32_t>();
      max_id = std::max(max_id, id);
      d->ids.insert_or_assign(std::move(vocab_key), id);
      return false;
    }
    if (key2 == "merges" && (ev == E::array_end || ev == E::value)) {
      if (parsed.is_array() && parsed.size() == 2 && parsed[0].is_string() && parsed[1].is_string()) {
        merges.emplace_back(parsed[0].get<std::string>(), parsed[1].get<std::string>());
      } else {
        // "a b": exactly one space separates the two parts.
        std::string m = parsed.is_string() ? parsed.get<std::string>() : parsed.dump();
        size_t sp = m.find(' ');
        QWEN3_CHECK(parsed.is_string() && sp != std::string::npos && m.find(' ', sp + 1) == std::string::npos,
                    "%s: bad merge %s", origin.c_str(), parsed.dump().c_str());
        merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
      }
      return false;
    }
    return true;
  };
  json j;
  try {
    d->ids.reserve(size_t(1) << 18);
    j = json::parse(tokenizer_json, stream);
  } catch (const json::exception& e) {
    throw_error("%s: not valid JSON (%s)", origin.c_str(), e.what());
  }
  try {
    QWEN3_CHECK(j.is_object() && j.contains("model"), "%s: no \"model\" section", origin.c_str());
    const json& m = j["model"];
    QWEN3_CHECK(m.value("type", "BPE") == "BPE", "%s: unsupported model %s (only BPE)", origin.c_str(),
                type_of(m).c_str());
    QWEN3_CHECK(is_null_or(m, "dropout", 0.0), "%s: unsupported BPE dropout %s", origin.c_str(),
                m["dropout"].dump().c_str());
    QWEN3_CHECK(is_null_or(m, "continuing_subword_prefix", "") && is_null_or(m, "end_of_word_suffix", ""),
                "%s: unsupported BPE continuing_subword_prefix/end_of_word_suffix", origin.c_str());
    QWEN3_CHECK(is_null_or(m, "byte_fallback", false), "%s: unsupported BPE byte_fallback", origin.c_str());
    d->ignore_merges = m.value("ignore_merges", false);
    QWEN3_CHECK(is_null_or(j, "truncation", json()) && is_null_or(j, "padding", json()),
                "%s: unsupported truncation/padding settings (must be null)", origin.c_str());
    check_normalizer(j.value("normalizer", json()), origin, d->nfc);
    check_pre_tokenizer(j.value("pre_tokenizer", json()), origin);
    const json& dec = j.value("decoder", json());
    QWEN3_CHECK(dec.is_object() && dec.value("type", "") == "ByteLevel",
                "%s: unsupported decoder %s (only ByteLevel)", origin.c_str(), type_of(dec).c_str());

    // The vocabulary is already in d->ids (streamed above).
    QWEN3_CHECK(has_vocab, "%s: BPE model has no vocab", origin.c_str());
    // Added tokens get their ids as HF's AddedVocabulary::add_tokens gives them, in file order: the id of the
    // same string already in the vocab (or added before), else the next id after the vocab and the added ids
    // so far. The "id" written in the file is only a check (HF warns when it differs; so do we).
    const int32_t n_model = int32_t(d->ids.size());
    std::unordered_map<std::string, int32_t> added_ids;  // content -> id
    std::map<int32_t, tok::AddedToken> added_by_id;      // id -> latest token with that id
    std::set<std::string> special_contents;
    for (const json& a : j.value("added_tokens", json::array())) {
      tok::AddedToken t;
      t.content = a.at("content").get<std::string>();
      t.special = a.value("special", false);
      t.normalized = a.value("normalized", !t.special);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.single_word = a.value("single_word", false);
      if (t.content.empty()) continue;
      QWEN3_CHECK(tok::find_invalid_utf8(t.content) == std::string_view::npos, "%s: added token is not UTF-8",
                  origin.c_str());
      if (t.special) special_contents.insert(t.content);
      int32_t id;
      if (auto it = added_ids.find(t.content); it != added_ids.end()) {
        id = it->second;
      } else if (auto iv = d->ids.find(t.content); iv != d->ids.end()) {
        id = iv->second;
      } else if (added_ids.empty()) {
        id = n_model;
      } else {
        int32_t mx = -1;
        for (const auto& [c, i] : added_ids) mx = std::max(mx, i);
        id = (mx >= n_model || n_model == 0) ? mx + 1 : n_model;
      }
      t.id = id;
      if (a.contains("id") && a["id"].is_number_integer() && a["id"].get<int64_t>() != id)
        QWEN3_LOG_WARN("%s: added token %s is given id %d (the file says %lld), as HF tokenizers does",
                       origin.c_str(), t.content.c_str(), id, static_cast<long long>(a["id"].get<int64_t>()));
      added_ids[t.content] = id;
      added_by_id[id] = t;
      max_id = std::max(max_id, id);
    }
    size_t n = size_t(max_id + 1);
    d->tokens.assign(n, std::string());
    d->special.assign(n, 0);
    d->added.assign(n, 0);
    for (const auto& [token, id] : d->ids) d->tokens[size_t(id)] = token;
    for (const auto& [id, t] : added_by_id)
      d->tokens[size_t(id)] = t.content;  // HF looks in added tokens first
    for (const auto& [content, id] : added_ids) d->ids[content] = id, d->added[size_t(id)] = 1;
    for (const std::string& c : special_contents) d->special[size_t(d->ids.at(c))] = 1;
    tok::build_byte_and_merge_tables(*d, merges, origin);

    bool split_special = false;
    if (!config_json.empty()) {
      json c = json::parse(config_json);
      if (c.contains("split_special_tokens") && c["split_special_tokens"].is_boolean())
        split_special = c["split_special_tokens"].get<bool>();
    }
    // The two matchers of HF's AddedVocabulary: normalized=false tokens on the raw text, normalized=true ones
    // (their text normalised too) on the normalised text.
    std::vector<tok::AddedToken> raw, normalized;
    for (const auto& [content, id] : added_ids) {
      tok::AddedToken t = added_by_id.at(id);
      t.content = content;
      t.special = special_contents.count(content) > 0;
      if (t.normalized) {
        std::string nfc;
        if (d->nfc && tok::nfc_hf(t.content, nfc)) t.content = nfc;
        normalized.push_back(t);
      } else {
        raw.push_back(t);
      }
    }
    d->raw_added = tok::AddedMatcher(raw, split_special);
    d->normalized_added = tok::AddedMatcher(normalized, split_special);
  } catch (const json::exception& e) {
    throw_error("%s: unexpected structure (%s)", origin.c_str(), e.what());
  }
  Tokenizer t;
  t.d_ = std::move(d);
  return t;
}

}  // namespace qwen3
