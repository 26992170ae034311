// qwen3 grammar -m MODEL --jsonl: the constraint engine measured as MaskBench measures it (contract in
// docs/DESIGN.md). Each stdin line {"schema": {...} | "grammar": "<GBNF>" | "regex": "...", "tests": [text,
// ...]} gives one stdout line {"compiled": true, "compile_us": N, "results": [{"accepted", "tokens",
// "mask_us"}]} or
// {"compiled": false, "error": "...", "keyword": "...", "path": "..."}. Each text is encoded without special
// tokens; before each token the mask is computed (timed) and the token must be in it; after the last token
// one more mask is computed and an EOS id must be in it (the text is complete). Options:
// --flexible-whitespace.
#include <chrono>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/jsonl.h"
#include "cli/model_args.h"
#include "constrain/constrain.h"
#include "core/error.h"
#include "core/json.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::cli {

namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

std::vector<int32_t> eos_ids_of(const std::string& dir, const Tokenizer& tok) {
  std::vector<int32_t> eos;
  try {
    ModelConfig c = load_model_config(dir);
    GenerationConfig g = load_generation_config(dir, c);
    for (int id : g.eos_token_ids) eos.push_back(id);
  } catch (const Error&) {
  }
  if (eos.empty()) {
    for (const char* t : {"<|im_end|>", "<|endoftext|>"})
      if (auto id = tok.token_to_id(t)) eos.push_back(*id);
  }
  return eos;
}

json run_request(const Tokenizer& tok, const std::shared_ptr<const constrain::Vocabulary>& vocab,
                 const std::string& line, bool flexible) {
  json req = parse_json(line);
  QWEN3_CHECK(req.is_object(), "request must be a JSON object");
  int n_sources = int(req.contains("schema")) + int(req.contains("grammar")) + int(req.contains("regex"));
  QWEN3_CHECK(n_sources == 1, "request needs exactly one of \"schema\", \"grammar\" and \"regex\"");
  QWEN3_CHECK(!req.contains("tests") || req["tests"].is_array(), "\"tests\" must be an array of strings");
  std::shared_ptr<const constrain::Grammar> grammar;
  auto t0 = Clock::now();
  try {
    constrain::Builder b(vocab);
    b.set_flexible_whitespace(flexible);
    constrain::Builder::Rule root;
    if (req.contains("schema")) {
      root = b.json_schema(req["schema"]);
    } else if (req.contains("grammar")) {
      QWEN3_CHECK(req["grammar"].is_string(), "\"grammar\" must be a string");
      root = b.gbnf(req["grammar"].get<std::string>());
    } else {
      QWEN3_CHECK(req["regex"].is_string(), "\"regex\" must be a string");
      root = b.regex(req["regex"].get<std::string>());
    }
    grammar = b.build(root);
  } catch (const constrain::CompileError& e) {
    return json{{"compiled", false}, {"error", e.what()}, {"keyword", e.keyword}, {"path", e.path}};
  }
  double compile_us = us_since(t0);
  json results = json::array();
  const size_t n_words = (size_t(tok.vocab_size()) + 31) / 32;
  std::vector<uint32_t> mask(n_words);
  for (const json& t : req.value("tests", json::array())) {
    QWEN3_CHECK(t.is_string(), "\"tests\" must hold strings");
    std::vector<int32_t> ids = tok.encode(t.get<std::string>());
    constrain::Matcher m(grammar);
    json times = json::array();
    bool accepted = true;
    for (size_t i = 0; i <= ids.size(); i++) {
      auto t1 = Clock::now();
      m.fill_mask(mask);
      times.push_back(std::round(us_since(t1) * 1000) / 1000);
      if (i == ids.size()) {
        bool eos_ok = false;
        for (int32_t id : vocab_eos(*vocab)) eos_ok |= (mask[size_t(id) >> 5] >> (id & 31)) & 1;
        accepted = eos_ok;
        break;
      }
      int32_t id = ids[i];
      if (!((mask[size_t(id) >> 5] >> (id & 31)) & 1) || !m.advance(id)) {
        accepted = false;
        break;
      }
    }
    results.push_back(json{{"accepted", accepted}, {"tokens", ids.size()}, {"mask_us", times}});
  }
  return json{{"compiled", true}, {"compile_us", std::round(compile_us * 1000) / 1000}, {"results", results}};
}

}  // namespace

void add_grammar_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto jsonl = std::make_shared<bool>(false);
  auto flexible = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("grammar", "measure the constraint engine (JSON Schema, GBNF, regex) on texts");
  add_model_path_option(cmd, *model,
                        "model directory holding tokenizer.json, .gguf file, or Hugging Face repo id")
      ->required();
  cmd->add_flag("--jsonl", *jsonl, "read {\"schema\"|\"grammar\"|\"regex\", \"tests\"} requests from stdin")
      ->required();
  cmd->add_flag("--flexible-whitespace", *flexible, "JSON: any whitespace between tokens (default: compact)");
  // The callback owns `jsonl` too: CLI11 writes the flag through that pointer while parsing (without it, a
  // use after free that ASan reports on every run).
  cmd->callback([model, jsonl, flexible] {
    std::string dir = resolve_model_dir(*model);
    Tokenizer tok = Tokenizer::load(dir);
    std::vector<int32_t> eos = eos_ids_of(dir, tok);
    auto vocab = constrain::make_vocabulary(tok, eos);
    run_jsonl([&](const std::string& line) {
      return run_request(tok, vocab, line, *flexible).dump(-1, ' ', false, json::error_handler_t::replace);
    });
  });
}

}  // namespace qwen3::cli
