#include "tokenizer/gguf_vocab.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::tok {

using json = nlohmann::json;

namespace {

json parse_file(const std::string& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    throw_error("%s: not valid JSON (%s)", path.c_str(), e.what());
  }
}

// llama.cpp's converter also types as CONTROL the added tokens that look special though not flagged so
// (Qwen3's <|fim_prefix|> … <|file_sep|>).
bool looks_special(const std::string& t) {
  auto wrapped = [&](std::string_view open, std::string_view close) {
    return t.size() >= open.size() + close.size() && t.starts_with(open) && t.ends_with(close);
  };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || wrapped("<|", "|>") ||
         wrapped("<\xef\xbd\x9c", "\xef\xbd\x9c>") || wrapped("<unused", ">");
}

}  // namespace

gguf::Vocab gguf_vocab_from_hf(const std::string& dir, int n_vocab) {
  // Loading it first checks that it is a tokenizer this engine (and so llama.cpp's "qwen2" pre-tokenizer)
  // reproduces, and gives the ids as Hugging Face assigns them.
  const Tokenizer tokenizer = Tokenizer::load(dir);
  const std::string path = dir + "/tokenizer.json";
  QWEN3_CHECK(tokenizer.vocab_size() <= n_vocab,
              "%s: %d tokens, more than config.json's vocab_size (%d) embedding rows", path.c_str(),
              tokenizer.vocab_size(), n_vocab);
  const json tj = parse_file(path);
  gguf::Vocab v;
  try {
    v.tokens.resize(static_cast<size_t>(n_vocab));
    v.token_types.assign(static_cast<size_t>(n_vocab), gguf::kNormal);
    for (int32_t id = 0; id < n_vocab; ++id) {
      std::string t = tokenizer.id_to_token(id);
      if (t.empty()) {
        t = "[PAD" + std::to_string(id) + "]";
        v.token_types[id] = gguf::kUnused;
      }
      v.tokens[id] = std::move(t);
    }
    for (const json& a : tj.value("added_tokens", json::array())) {
      const std::string content = a.at("content").get<std::string>();
      std::optional<int32_t> id = tokenizer.token_to_id(content);
      if (!id || *id >= n_vocab) continue;
      v.token_types[*id] =
          tokenizer.is_special(*id) || looks_special(content) ? gguf::kControl : gguf::kUserDefined;
    }
    const json& merges = tj.at("model").at("merges");
    v.merges.reserve(merges.size());
    for (const json& m : merges) {
      if (m.is_string()) {
        v.merges.push_back(m.get<std::string>());
        continue;
      }
      const std::string a = m.at(0).get<std::string>(), b = m.at(1).get<std::string>();
      QWEN3_CHECK(a.find(' ') == std::string::npos && b.find(' ') == std::string::npos,
                  "%s: merge [\"%s\", \"%s\"] has a space inside a token, which GGUF's \"a b\" merges cannot "
                  "hold",
                  path.c_str(), a.c_str(), b.c_str());
      v.merges.push_back(a + " " + b);
    }
  } catch (const json::exception& e) {
    throw_error("%s: unexpected structure (%s)", path.c_str(), e.what());
  }

  // Special token ids, in the order llama.cpp's converter (gguf-py SpecialVocab) looks for them.
  struct Kind {
    const char* name;
    std::optional<uint32_t>* id;
  };
  const Kind kinds[] = {{"bos", &v.bos}, {"eos", &v.eos}, {"unk", &v.unk},
                        {"sep", &v.sep}, {"pad", &v.pad}, {"mask", &v.mask}};
  auto set_id = [&](std::optional<uint32_t>* id, const json& x) {
    if (!*id && x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() < n_vocab)
      *id = static_cast<uint32_t>(x.get<int64_t>());
  };
  const std::string config_path = dir + "/tokenizer_config.json";
  if (file_exists(config_path)) {
    const json tc = parse_file(config_path);
    QWEN3_CHECK(tc.is_object(), "%s: not a JSON object", config_path.c_str());
    const json& t = tc.value("chat_template", json());
    if (t.is_string()) {
      v.chat_template = t.get<std::string>();
    } else if (t.is_array()) {  // named templates: the default one
      for (const json& e : t)
        if (e.is_object() && e.value("name", "") == "default" && e.value("template", json()).is_string())
          v.chat_template = e["template"].get<std::string>();
    }
    if (tc.value("add_bos_token", json()).is_boolean()) v.add_bos = tc["add_bos_token"].get<bool>();
    if (tc.value("add_eos_token", json()).is_boolean()) v.add_eos = tc["add_eos_token"].get<bool>();
    for (const Kind& k : kinds) {
      const json& e = tc.value(std::string(k.name) + "_token", json());
      const json content = e.is_object() ? e.value("content", json()) : e;
      if (!content.is_string()) continue;
      for (const json& a : tj.value("added_tokens", json::array()))
        if (a.value("content", json()) == content) {
          set_id(k.id, a.value("id", json()));
          break;
        }
    }
  }
  const std::string model_config = dir + "/config.json";
  if (file_exists(model_config)) {
    const json c = parse_file(model_config);
    if (c.is_object())
      for (const Kind& k : kinds) set_id(k.id, c.value(std::string(k.name) + "_token_id", json()));
  }
  return v;
}

}  // namespace qwen3::tok
