#include "train/train_data.h"

#include <cstdio>
#include <fstream>

#include "core/error.h"

namespace qwen3 {

using ojson = nlohmann::ordered_json;

int64_t TrainExample::n_targets() const {
  int64_t n = 0;
  for (size_t t = 1; t < mask.size(); ++t) n += mask[t];
  return n;
}

namespace {

// Token ids of `text` and the byte offset where each starts (byte-level BPE: a token's bytes are its text).
std::vector<size_t> token_offsets(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  std::vector<size_t> at(ids.size() + 1, 0);
  for (size_t i = 0; i < ids.size(); ++i) at[i + 1] = at[i] + tok.token_bytes(ids[i]).size();
  return at;
}

bool all_template(const std::vector<uint8_t>& from_template, size_t at, size_t len) {
  for (size_t i = at; i < at + len; ++i)
    if (!from_template[i]) return false;
  return true;
}

TrainExample render_chat(const ojson& j, const Tokenizer& tok, const ChatTemplate& tmpl) {
  const ojson& messages = j["messages"];
  QWEN3_CHECK(messages.is_array() && !messages.empty(), "\"messages\" must be a non-empty array");
  bool has_assistant = false;
  for (const ojson& m : messages) {
    QWEN3_CHECK(m.is_object() && m.contains("role") && m["role"].is_string(),
                "every message must be an object with a string \"role\"");
    const std::string role = m["role"];
    QWEN3_CHECK(role == "system" || role == "user" || role == "assistant" || role == "tool",
                "unknown role \"%s\" (system, user, assistant or tool)", role.c_str());
    if (m.contains("content"))
      QWEN3_CHECK(m["content"].is_string() || m["content"].is_null() || m["content"].is_array(),
                  "a message's \"content\" must be a string, null or an array of parts");
    has_assistant |= role == "assistant";
  }
  QWEN3_CHECK(has_assistant, "no assistant message to learn from");
  ojson tools = j.contains("tools") ? j["tools"] : ojson(nullptr);
  QWEN3_CHECK(tools.is_null() || tools.is_array(), "\"tools\" must be an array");
  ChatTemplateOptions o;
  o.add_generation_prompt = false;
  RenderedPrompt r = tmpl.render(messages, tools, o);
  TrainExample ex;
  ex.ids = tok.encode(r.text, &r.from_template);
  // The assistant spans: after each template-written "<|im_start|>assistant\n" to the end of its
  // "<|im_end|>".
  static const std::string kOpen = "<|im_start|>assistant\n", kStart = "<|im_start|>", kClose = "<|im_end|>";
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t at = r.text.find(kOpen); at != std::string::npos; at = r.text.find(kOpen, at + 1)) {
    // <|im_start|> must be the template's own text (the role after it is the message's value, checked above)
    if (!all_template(r.from_template, at, kStart.size())) continue;
    size_t begin = at + kOpen.size(), end = begin;
    for (;;) {
      end = r.text.find(kClose, end);
      if (end == std::string::npos || all_template(r.from_template, end, kClose.size())) break;
      end += kClose.size();
    }
    end = end == std::string::npos ? r.text.size() : end + kClose.size();
    spans.push_back({begin, end});
  }
  QWEN3_CHECK(!spans.empty(), "the chat template rendered no assistant turn");
  const std::vector<size_t> at = token_offsets(tok, ex.ids);
  QWEN3_CHECK(at.back() == r.text.size(), "internal: token bytes do not add up to the rendered text");
  ex.mask.assign(ex.ids.size(), 0);
  for (size_t t = 0; t < ex.ids.size(); ++t)
    for (auto [b, e] : spans)
      if (at[t] >= b && at[t] < e) ex.mask[t] = 1;
  return ex;
}

}  // namespace

TrainExample render_train_example(const ojson& j, const Tokenizer& tok, const ChatTemplate& tmpl) {
  QWEN3_CHECK(j.is_object(), "not a JSON object");
  TrainExample ex;
  if (j.contains("messages")) {
    ex = render_chat(j, tok, tmpl);
  } else if (j.contains("text")) {
    QWEN3_CHECK(j["text"].is_string(), "\"text\" must be a string");
    ex.ids = tok.encode(j["text"].get<std::string>());
    ex.mask.assign(ex.ids.size(), 1);
  } else if (j.contains("prompt") || j.contains("completion")) {
    QWEN3_CHECK(j.contains("prompt") && j["prompt"].is_string() && j.contains("completion") &&
                    j["completion"].is_string(),
                "\"prompt\" and \"completion\" must both be strings");
    ex.ids = tok.encode(j["prompt"].get<std::string>());
    ex.mask.assign(ex.ids.size(), 0);
    std::vector<int32_t> c = tok.encode(j["completion"].get<std::string>());
    const std::string eos = tmpl.eos_token();
    if (!eos.empty())
      if (auto id = tok.token_to_id(eos)) c.push_back(*id);
    ex.ids.insert(ex.ids.end(), c.begin(), c.end());
    ex.mask.resize(ex.ids.size(), 1);
  } else {
    throw_error("expected \"messages\", \"text\" or \"prompt\" + \"completion\"");
  }
  QWEN3_CHECK(ex.n_targets() > 0, "no token to learn (the loss mask is empty)");
  return ex;
}

std::vector<TrainExample> load_train_jsonl(const std::string& path, const Tokenizer& tok,
                                           const ChatTemplate& tmpl, const TrainDataOptions& options,
                                           int* n_truncated) {
  std::ifstream in(path, std::ios::binary);
  QWEN3_CHECK(in, "%s: cannot open", path.c_str());
  std::vector<TrainExample> out;
  std::string line;
  int line_no = 0, n_bad = 0, n_cut = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      ojson j;
      try {
        j = ojson::parse(line);
      } catch (const nlohmann::json::exception& e) {
        throw_error("not valid JSON (%s)", e.what());
      }
      TrainExample ex = render_train_example(j, tok, tmpl);
      ex.line = line_no;
      if (static_cast<int64_t>(ex.ids.size()) > options.max_len) {
        ex.ids.resize(options.max_len);
        ex.mask.resize(options.max_len);
        ++n_cut;
        QWEN3_CHECK(ex.n_targets() > 0, "no token to learn within --max-len %d tokens", options.max_len);
      }
      out.push_back(std::move(ex));
    } catch (const Error& e) {
      std::fprintf(stderr, "%s:%d: %s\n", path.c_str(), line_no, e.what());
      ++n_bad;
    }
  }
  QWEN3_CHECK(n_bad == 0, "%s: %d bad line%s (listed above); nothing was trained", path.c_str(), n_bad,
              n_bad == 1 ? "" : "s");
  QWEN3_CHECK(!out.empty(), "%s: no examples", path.c_str());
  if (n_truncated) *n_truncated = n_cut;
  return out;
}

}  // namespace qwen3
