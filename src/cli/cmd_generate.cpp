// qwen3 generate: one answer to a prompt. `-p TEXT` (a user message, rendered with the model's chat
// template),
// `--messages FILE.json` (a whole conversation), `--raw` (TEXT given to the model as is) or `--ids 1,2,3`
// (token ids as is). The answer streams to stdout; thinking streams to stderr (dimmed on a terminal) unless
// --hide-thinking; `--json` prints one JSON object with text, reasoning, tool calls, token counts and
// timings.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/generation_args.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "core/timer.h"
#include "engine/chat_turn.h"

namespace qwen3::cli {

using ojson = nlohmann::ordered_json;

namespace {

struct GenerateArgs {
  ModelArgs model;
  GenerationArgs gen;
  std::string prompt, messages_file, ids, system;
  bool raw = false, think = false, no_think = false, json = false, hide_thinking = false, hf_special = false;
};

std::vector<int32_t> parse_ids(const std::string& s, const Model& m) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    QWEN3_CHECK(!item.empty() && end && *end == '\0' && v >= 0 && v < m.config.vocab_size,
                "--ids: '%s' is not a token id in [0, %d)", item.c_str(), m.config.vocab_size);
    ids.push_back(static_cast<int32_t>(v));
  }
  QWEN3_CHECK(!ids.empty(), "--ids: give at least one token id");
  return ids;
}

ojson read_messages(const std::string& path) {
  std::ifstream in(path);
  QWEN3_CHECK(in.good(), "%s: cannot open", path.c_str());
  ojson j;
  try {
    j = ojson::parse(in);
  } catch (const ojson::exception& e) {
    throw_error("%s: malformed JSON: %s", path.c_str(), e.what());
  }
  if (j.is_object() && j.contains("messages")) j = j["messages"];
  QWEN3_CHECK(j.is_array() && !j.empty(), "%s: expected a JSON array of messages (or {\"messages\": [...]})",
              path.c_str());
  return j;
}

void run(const GenerateArgs& a) {
  int sources = !a.prompt.empty() + !a.messages_file.empty() + !a.ids.empty();
  QWEN3_CHECK(sources == 1, "give exactly one of -p TEXT, --messages FILE or --ids IDS");
  QWEN3_CHECK(!(a.think && a.no_think), "--think and --no-think exclude each other");
  double t_load = now_seconds();
  auto model = load_model_from_args(a.model);
  auto pool = make_pool(a.model);
  Tokenizer tok = Tokenizer::load(model->dir);
  const OutputConstraint constraint = make_output_constraint(a.gen.constraint, tok, *model);
  t_load = now_seconds() - t_load;
  Session session(*model, tok, context_size(a.gen, *model), pool.get(),
                  kv_type_for(a.model.kv_type, model->config));
  const bool tty_err = ::isatty(STDERR_FILENO);
  auto show_reasoning = [&](const std::string& s) {
    if (a.hide_thinking || a.json || s.empty()) return;
    std::fprintf(stderr, "%s%s%s", tty_err ? "\033[2m" : "", s.c_str(), tty_err ? "\033[0m" : "");
    std::fflush(stderr);
  };
  auto show_content = [&](const std::string& s) {
    if (a.json || s.empty()) return;
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };

  ojson out;
  GenerationResult gen;
  uint64_t seed = 0;
  if (a.raw || !a.ids.empty()) {
    std::vector<int32_t> prompt = a.ids.empty() ? tok.encode(a.prompt) : parse_ids(a.ids, *model);
    GenerationParams p = make_generation_params(a.gen, *model, !a.no_think);
    p.constraint = constraint;  // raw text: the whole output matches
    seed = p.sampling.seed;
    gen = session.generate(prompt, p, [&](int32_t, std::string_view text) {
      show_content(std::string(text));
      return true;
    });
    out["text"] = gen.text;
    out["reasoning"] = "";
    out["tool_calls"] = ojson::array();
  } else {
    ChatRequest req;
    if (!a.messages_file.empty()) {
      req.messages = read_messages(a.messages_file);
    } else {
      if (!a.system.empty()) req.messages.push_back({{"role", "system"}, {"content", a.system}});
      req.messages.push_back({{"role", "user"}, {"content", a.prompt}});
    }
    if (a.think) req.enable_thinking = true;
    if (a.no_think) req.enable_thinking = false;
    req.parse_special_in_content = a.hf_special;
    ChatTemplate tmpl = ChatTemplate::load(model->dir);
    req.generation = make_generation_params(a.gen, *model, thinking_mode(req));
    req.generation.constraint = constraint;
    req.generation.constraint.think_first = thinking_mode(req);
    seed = req.generation.sampling.seed;
    ChatResult r = run_chat_turn(session, tmpl, req, [&](const ParsedDelta& d) {
      show_reasoning(d.reasoning);
      show_content(d.content);
      return true;
    });
    gen = r.generation;
    out["text"] = r.output.content;
    out["reasoning"] = r.output.reasoning_content;
    ojson calls = ojson::array();
    for (const ToolCall& c : r.output.tool_calls) {
      calls.push_back(
          {{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      if (!a.json) std::printf("\n<tool_call>%s</tool_call>", calls.back().dump().c_str());
    }
    out["tool_calls"] = calls;
    out["reasoning_tokens"] = r.n_reasoning_tokens;
  }
  if (!a.json) std::printf("\n");
  out["finish_reason"] = finish_reason_name(gen.finish);
  out["seed"] = seed;
  out["tokens"] = {{"prompt", gen.n_prompt},
                   {"prompt_reused", gen.n_reused},
                   {"prompt_processed", gen.n_prefilled},
                   {"generated", gen.tokens.size()}};
  out["timings"] = {{"load_s", t_load},
                    {"prompt_s", gen.prompt_seconds},
                    {"prompt_tokens_per_s", gen.prompt_tps()},
                    {"generation_s", gen.decode_seconds},
                    {"generation_tokens_per_s", gen.decode_tps()}};
  if (a.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::fflush(stdout);
    std::fprintf(stderr, "[%d prompt tokens at %.1f tok/s, %zu generated at %.1f tok/s, %s]\n",
                 gen.n_prefilled, gen.prompt_tps(), gen.tokens.size(), gen.decode_tps(),
                 finish_reason_name(gen.finish));
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "generate one answer to a prompt");
  add_model_options(cmd, a->model);
  add_kv_type_option(cmd, a->model.kv_type);
  add_generation_options(cmd, a->gen);
  cmd->add_option("-p,--prompt", a->prompt, "the user's message (or the raw text with --raw)");
  cmd->add_option("--messages", a->messages_file,
                  "a JSON file with the whole conversation (OpenAI messages)");
  cmd->add_option("--ids", a->ids, "the prompt as comma-separated token ids, given to the model as is");
  cmd->add_option("--system", a->system, "a system message before the prompt");
  cmd->add_flag("--raw", a->raw, "give the prompt text to the model as is, without the chat template");
  cmd->add_flag("--think", a->think, "thinking mode (enable_thinking=true; the template's default)");
  cmd->add_flag("--no-think", a->no_think, "non-thinking mode (enable_thinking=false)");
  cmd->add_flag("--hide-thinking", a->hide_thinking, "do not print the reasoning");
  cmd->add_flag(
      "--hf-special-tokens", a->hf_special,
      "recognise control tokens inside message text as Hugging Face does (default: only in the template)");
  cmd->add_flag("--json", a->json, "print one JSON object: text, reasoning, tool calls, tokens, timings");
  cmd->callback([a] { run(*a); });
}

}  // namespace qwen3::cli
