// qwen3 template -m MODEL --jsonl: renders chat templates for reference tests (contract in docs/DESIGN.md).
// Each stdin line {"messages": [..], "tools": [..]|null, "add_generation_prompt": bool, "enable_thinking":
// bool|null} gives one stdout line {"rendered": "..."}; null or absent means "not passed to the template"
// (absent add_generation_prompt is false, as in transformers). A bad line gives {"error": "..."} on that line
// and on stderr; the other lines are still answered and the exit status is 1.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/jsonl.h"
#include "cli/model_args.h"
#include "core/error.h"

namespace qwen3::cli {

using ojson = nlohmann::ordered_json;

static ojson template_request(const ChatTemplate& tmpl, const std::string& line) {
  ojson req;
  try {
    req = ojson::parse(line);  // ordered: tojson must see keys in the order the request gave them
  } catch (const nlohmann::json::exception& e) {
    throw_error("malformed JSON: %s", e.what());
  }
  QWEN3_CHECK(req.is_object(), "request must be a JSON object");
  QWEN3_CHECK(req.contains("messages") && req["messages"].is_array(), "request needs a \"messages\" array");
  ojson tools = req.value("tools", ojson());
  QWEN3_CHECK(tools.is_null() || tools.is_array(), "\"tools\" must be an array or null");
  ChatTemplateOptions opt;
  ojson agp = req.value("add_generation_prompt", ojson(false));
  QWEN3_CHECK(agp.is_boolean(), "\"add_generation_prompt\" must be a boolean");
  opt.add_generation_prompt = agp.get<bool>();
  ojson thinking = req.value("enable_thinking", ojson());
  QWEN3_CHECK(thinking.is_null() || thinking.is_boolean(), "\"enable_thinking\" must be a boolean or null");
  if (thinking.is_boolean()) opt.enable_thinking = thinking.get<bool>();
  RenderedPrompt r = tmpl.render(req["messages"], tools, opt);
  return ojson{{"rendered", r.text}};
}

void add_template_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto jsonl = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("template", "render the model's chat template for JSON-line requests");
  add_model_path_option(cmd, *model,
                        "model directory (with tokenizer_config.json), .gguf file or Hugging Face repo id")
      ->required();
  cmd->add_flag("--jsonl", *jsonl, "read requests from stdin, one JSON object per line")->required();
  cmd->callback([model, jsonl] {  // both live as long as the command: CLI11 writes through them
    ChatTemplate tmpl = ChatTemplate::load(resolve_model_dir(*model));
    run_jsonl([&](const std::string& line) {
      return template_request(tmpl, line).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    });
  });
}

}  // namespace qwen3::cli
