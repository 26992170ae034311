// Loads a model's chat template and renders it with the variables transformers passes:
// render(messages=..., tools=..., documents=None, add_generation_prompt=..., **special_tokens_map, **kwargs).
#include "chat/chat_template.h"

#include "chat/jinja_ast.h"
#include "chat/jinja_eval.h"
#include "core/error.h"
#include "core/file.h"
#include "formats/gguf_reader.h"

namespace qwen3 {

using ojson = nlohmann::ordered_json;

static void check_utf8(const std::string& s) {
  for (size_t pos = 0, len = 0; pos < s.size(); pos += len) {
    uint32_t c = jinja::decode_at(s, pos, &len);
    QWEN3_CHECK(!(len == 1 && c >= 0x80), "chat template: invalid UTF-8 at byte %zu", pos);
  }
}

ChatTemplate ChatTemplate::from_source(std::string source) {
  check_utf8(source);
  ChatTemplate t;
  auto body = std::make_shared<jinja::Body>(jinja::parse_template(source));
  jinja::check_names(*body);
  t.body_ = std::move(body);
  t.source_ = std::move(source);
  return t;
}

// A GGUF file's tokenizer.chat_template, with the special tokens its tokenizer.ggml.*_token_id entries name.
static ChatTemplate load_gguf(const std::string& path) {
  const gguf::Vocab v = gguf::read_vocab(gguf::read_file(path));
  QWEN3_CHECK(!v.chat_template.empty(), "%s: no tokenizer.chat_template in the file", path.c_str());
  ChatTemplate t;
  try {
    t = ChatTemplate::from_source(v.chat_template);
  } catch (const Error& e) {
    throw_error("%s: %s", path.c_str(), e.what());
  }
  ojson map = ojson::object();
  const std::pair<const char*, const std::optional<uint32_t>*> ids[] = {
      {"bos_token", &v.bos}, {"eos_token", &v.eos}, {"unk_token", &v.unk},
      {"sep_token", &v.sep}, {"pad_token", &v.pad}, {"mask_token", &v.mask}};
  for (const auto& [key, id] : ids)
    if (*id && **id < v.tokens.size()) map[key] = v.tokens[**id];
  t.set_special_tokens(map);
  return t;
}

ChatTemplate ChatTemplate::load(const std::string& model_dir) {
  if (gguf::is_gguf_path(model_dir)) return load_gguf(model_dir);
  std::string config_path = model_dir + "/tokenizer_config.json";
  ojson config = ojson::object();
  if (file_exists(config_path)) {
    try {
      config = ojson::parse(read_text_file(config_path));
    } catch (const nlohmann::json::exception& e) {
      throw_error("%s: invalid JSON: %s", config_path.c_str(), e.what());
    }
    QWEN3_CHECK(config.is_object(), "%s: expected a JSON object", config_path.c_str());
  }
  std::string source;
  std::string jinja_path = model_dir + "/chat_template.jinja";
  if (file_exists(jinja_path)) {
    source = read_text_file(jinja_path);
  } else {
    QWEN3_CHECK(config.contains("chat_template"),
                "%s: no chat_template (and no chat_template.jinja beside it)", config_path.c_str());
    const ojson& ct = config["chat_template"];
    if (ct.is_string()) {
      source = ct.get<std::string>();
    } else if (ct.is_array()) {
      for (const auto& entry : ct)
        if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
            entry["template"].is_string())
          source = entry["template"].get<std::string>();
      QWEN3_CHECK(!source.empty(), "%s: chat_template list has no \"default\" entry", config_path.c_str());
    } else {
      throw_error("%s: chat_template must be a string or a list", config_path.c_str());
    }
  }
  ChatTemplate t;
  try {
    t = from_source(std::move(source));
  } catch (const Error& e) {
    throw_error("%s: %s", model_dir.c_str(), e.what());
  }
  // transformers' special_tokens_map: the attributes that are set, as strings (AddedToken dicts give
  // "content").
  ojson map = ojson::object();
  for (const char* key :
       {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    if (!config.contains(key)) continue;
    const ojson& v = config[key];
    if (v.is_string())
      map[key] = v;
    else if (v.is_object() && v.contains("content") && v["content"].is_string())
      map[key] = v["content"];
  }
  if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
    ojson list = ojson::array();
    for (const auto& v : config["additional_special_tokens"]) {
      if (v.is_string())
        list.push_back(v);
      else if (v.is_object() && v.contains("content") && v["content"].is_string())
        list.push_back(v["content"]);
    }
    map["additional_special_tokens"] = list;
  }
  t.set_special_tokens(map);
  return t;
}

void ChatTemplate::set_special_tokens(const ojson& special_tokens_map) {
  QWEN3_CHECK(special_tokens_map.is_object(), "chat template: special tokens map must be an object");
  special_tokens_ = special_tokens_map;
}

std::string ChatTemplate::special_token(const std::string& name) const {
  auto it = special_tokens_.find(name);
  return it != special_tokens_.end() && it->is_string() ? it->get<std::string>() : std::string();
}

RenderedPrompt ChatTemplate::render(const ojson& messages, const ojson& tools,
                                    const ChatTemplateOptions& opt) const {
  QWEN3_CHECK(body_ != nullptr, "chat template: no template loaded");
  QWEN3_CHECK(messages.is_array(), "chat template: messages must be an array");
  QWEN3_CHECK(tools.is_null() || tools.is_array(), "chat template: tools must be null or an array");
  QWEN3_CHECK(opt.extra_kwargs.is_object(), "chat template: extra kwargs must be an object");
  jinja::Vars vars;
  auto put = [&](const std::string& name, jinja::Value v) {
    for (auto& [k, old] : vars)
      if (k == name) {
        old = std::move(v);
        return;
      }
    vars.emplace_back(name, std::move(v));
  };
  put("messages", jinja::from_json(messages));
  put("tools", jinja::from_json(tools));
  put("documents", jinja::Value::none());
  put("add_generation_prompt", jinja::Value::boolean(opt.add_generation_prompt));
  for (const auto& [k, v] : special_tokens_.items()) put(k, jinja::from_json(v, /*trusted=*/true));
  if (opt.enable_thinking) put("enable_thinking", jinja::Value::boolean(*opt.enable_thinking));
  for (const auto& [k, v] : opt.extra_kwargs.items()) put(k, jinja::from_json(v));
  jinja::TString out = jinja::render(*body_, vars);
  RenderedPrompt r;
  r.text = std::move(out.text);
  r.from_template.assign(out.origin.begin(), out.origin.end());
  return r;
}

bool prompt_ends_in_thinking(std::string_view p) {
  size_t turn = p.rfind("<|im_start|>assistant");
  std::string_view tail = turn == std::string_view::npos ? p : p.substr(turn);
  size_t open = tail.rfind("<think>");
  if (open == std::string_view::npos) return false;
  return tail.find("</think>", open) == std::string_view::npos;
}

}  // namespace qwen3
