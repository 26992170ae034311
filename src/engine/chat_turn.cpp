#include "engine/chat_turn.h"

#include "core/error.h"

namespace qwen3 {

std::vector<int32_t> chat_prompt_tokens(const ChatTemplate& tmpl, const Tokenizer& tok,
                                        const ChatRequest& req, std::string* rendered) {
  ChatTemplateOptions opt;
  opt.add_generation_prompt = true;
  opt.enable_thinking = req.enable_thinking;
  RenderedPrompt p = tmpl.render(req.messages, req.tools, opt);
  if (rendered) *rendered = p.text;
  return tok.encode(p.text, req.parse_special_in_content ? nullptr : &p.from_template);
}

bool thinking_mode(const ChatRequest& req) {
  bool thinking = req.enable_thinking.value_or(true);
  if (!thinking) return false;  // the hard switch wins: the template already closed the think block
  for (auto it = req.messages.rbegin(); it != req.messages.rend(); ++it) {
    if (!it->is_object() || it->value("role", "") != "user") continue;
    if (!(*it)["content"].is_string()) break;
    const std::string& text = (*it)["content"].get_ref<const std::string&>();
    size_t think = text.rfind("/think"), no_think = text.rfind("/no_think");
    if (no_think != std::string::npos && (think == std::string::npos || no_think + 3 >= think)) return false;
    break;
  }
  return true;
}

int count_reasoning_tokens(const std::vector<int32_t>& tokens, bool starts_in_thinking, int32_t think_open,
                           int32_t think_close) {
  bool in = starts_in_thinking;
  int n = 0;
  for (int32_t id : tokens) {
    if (id == think_open) in = true;
    if (in) ++n;
    if (id == think_close) in = false;
  }
  return n;
}

ChatResult run_chat_turn(Session& session, const ChatTemplate& tmpl, const ChatRequest& req,
                         const ChatDeltaCallback& on_delta) {
  ChatResult result;
  std::vector<int32_t> prompt = chat_prompt_tokens(tmpl, session.tokenizer(), req, &result.prompt);
  bool starts_thinking = prompt_ends_in_thinking(result.prompt);
  const Tokenizer& tok = session.tokenizer();
  OutputParser::SpecialIds ids;
  ids.think_open = tok.token_to_id("<think>").value_or(ids.think_open);
  ids.think_close = tok.token_to_id("</think>").value_or(ids.think_close);
  ids.tool_call_open = tok.token_to_id("<tool_call>").value_or(ids.tool_call_open);
  ids.tool_call_close = tok.token_to_id("</tool_call>").value_or(ids.tool_call_close);
  OutputParser parser(ids, starts_thinking, req.call_id_prefix);
  GenerationParams gp = req.generation;
  gp.starts_in_thinking = starts_thinking;
  bool keep_going = true;
  result.generation = session.generate(prompt, gp, [&](int32_t id, std::string_view text) {
    ParsedDelta d = parser.push(id, text);
    if (on_delta && !d.empty()) keep_going = on_delta(d);
    return keep_going;
  });
  ParsedDelta last = parser.finish();
  if (on_delta && !last.empty()) on_delta(last);
  result.output = parser.result();
  result.n_reasoning_tokens =
      count_reasoning_tokens(result.generation.tokens, starts_thinking, ids.think_open, ids.think_close);
  return result;
}

}  // namespace qwen3
