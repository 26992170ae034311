// qwen3 tokenize -m MODEL: the tokenizer from the command line (contract in docs/DESIGN.md).
//   --jsonl: each stdin line {"text": "..."} gives {"ids": [..]} (HF encode, add_special_tokens=False:
//   special tokens in the text are recognised, none are added) and {"ids": [..]} gives {"text": "..."} (HF
//   decode; add "skip_special_tokens": true to drop special tokens). A bad line gives {"error": "..."} on
//   that line and on stderr; the other lines are still answered and the exit status is 1. Plain: qwen3
//   tokenize -m MODEL "some text" (or the text on stdin) prints one line per token: id, the token string as
//   in tokenizer.json, and the text it decodes to (JSON-quoted).
#include <cstdio>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/jsonl.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::cli {

using json = nlohmann::json;

static std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

static json tokenize_request(const Tokenizer& tok, const std::string& line) {
  json req;
  try {
    req = json::parse(line);
  } catch (const json::exception& e) {
    throw_error("malformed JSON: %s", e.what());
  }
  QWEN3_CHECK(req.is_object(), "request must be a JSON object with \"text\" or \"ids\"");
  QWEN3_CHECK(req.contains("text") != req.contains("ids"),
              "request needs exactly one of \"text\" and \"ids\"");
  if (req.contains("text")) {
    QWEN3_CHECK(req["text"].is_string(), "\"text\" must be a string");
    return json{{"ids", tok.encode(req["text"].get_ref<const std::string&>())}};
  }
  QWEN3_CHECK(req["ids"].is_array(), "\"ids\" must be an array of token ids");
  std::vector<int32_t> ids;
  for (const json& v : req["ids"]) {
    QWEN3_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX,
                "\"ids\" must hold non-negative integers, got %s", v.dump().c_str());
    ids.push_back(v.get<int32_t>());
  }
  bool skip = false;
  if (req.contains("skip_special_tokens")) {
    QWEN3_CHECK(req["skip_special_tokens"].is_boolean(), "\"skip_special_tokens\" must be a boolean");
    skip = req["skip_special_tokens"].get<bool>();
  }
  return json{{"text", tok.decode(ids, skip)}};
}

static void tokenize_jsonl(const Tokenizer& tok) {
  run_jsonl([&](const std::string& line) { return dump(tokenize_request(tok, line)); });
}

static void run_plain(const Tokenizer& tok, const std::string& text) {
  std::vector<int32_t> ids = tok.encode(text);
  for (int32_t id : ids) {
    int32_t one[1] = {id};
    std::printf("%d\t%s\t%s%s\n", id, tok.id_to_token(id).c_str(), dump(json(tok.decode(one))).c_str(),
                tok.is_special(id) ? "\t(special)" : "");
  }
  std::fprintf(stderr, "%zu tokens, %zu bytes\n", ids.size(), text.size());
}

void add_tokenize_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto jsonl = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("tokenize", "encode text to token ids and decode ids to text");
  add_model_path_option(cmd, *model,
                        "model directory holding tokenizer.json, .gguf file, or Hugging Face repo id")
      ->required();
  cmd->add_flag("--jsonl", *jsonl,
                "read {\"text\"} / {\"ids\"} requests from stdin, one JSON object per line");
  auto* text_opt = cmd->add_option("text", *text, "text to tokenize (default: all of stdin)");
  cmd->callback([model, text, jsonl, text_opt] {
    QWEN3_CHECK(!(*jsonl && text_opt->count()), "give either --jsonl or a text, not both");
    Tokenizer tok = Tokenizer::load(resolve_model_dir(*model));
    if (*jsonl) {
      tokenize_jsonl(tok);
    } else if (text_opt->count()) {
      run_plain(tok, *text);
    } else {
      run_plain(tok, std::string(std::istreambuf_iterator<char>(std::cin), {}));
    }
  });
}

}  // namespace qwen3::cli
