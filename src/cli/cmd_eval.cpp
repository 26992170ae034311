// qwen3 eval --jsonl: the machine interface for reference tests (contract in docs/DESIGN.md). Each stdin line
// {"ids": [..], "n_predict": N, "logits": bool} gives one stdout line {"greedy": [..], "logits": [..]}
// ("logits" only when asked: the vocab_size floats after the last prompt token). A bad line gives {"error":
// "..."} on that line (and on stderr); the others are still answered, and the exit status is 1.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/jsonl.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "model/forward.h"

namespace qwen3::cli {

using json = nlohmann::json;

static json eval_request(const Model& model, ThreadPool* pool, const std::string& line) {
  json req;
  try {
    req = json::parse(line);
  } catch (const json::exception& e) {
    throw_error("malformed JSON: %s", e.what());
  }
  QWEN3_CHECK(req.is_object() && req.contains("ids") && req["ids"].is_array() && !req["ids"].empty(),
              "request needs a non-empty \"ids\" array");
  std::vector<int32_t> ids;
  for (auto& v : req["ids"]) {
    QWEN3_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < model.config.vocab_size,
                "\"ids\" must hold token ids in [0, %d)", model.config.vocab_size);
    ids.push_back(v.get<int32_t>());
  }
  int64_t n_predict = 0;
  if (req.contains("n_predict")) {
    QWEN3_CHECK(req["n_predict"].is_number_integer() && req["n_predict"].get<int64_t>() >= 0 &&
                    req["n_predict"].get<int64_t>() <= model.config.max_context(),
                "\"n_predict\" must be a non-negative integer");
    n_predict = req["n_predict"].get<int64_t>();
  }
  bool want_logits = req.contains("logits") && req["logits"].is_boolean() && req["logits"].get<bool>();
  ForwardOptions fo;
  fo.pool = pool;
  GreedyResult r = generate_greedy(model, ids, static_cast<int>(n_predict), fo, want_logits);
  json out = json::object();
  out["greedy"] = r.tokens;
  if (want_logits) out["logits"] = r.prompt_logits;
  return out;
}
void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<ModelArgs>();
  auto jsonl = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("eval", "logits and greedy tokens for prompts of token ids (JSON lines)");
  add_model_options(cmd, *args);
  cmd->add_flag("--jsonl", *jsonl, "read requests from stdin, one JSON object per line")->required();
  // The callback owns `jsonl` too: CLI11 writes the flag through that pointer while parsing.
  cmd->callback([args, jsonl] {
    auto model = load_model_from_args(*args);
    auto pool = make_pool(*args);
    run_jsonl([&](const std::string& line) { return eval_request(*model, pool.get(), line).dump(); });
  });
}

}  // namespace qwen3::cli
