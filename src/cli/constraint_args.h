// Structured output on the command line (`qwen3 generate|chat`): --json-schema FILE_OR_JSON, --grammar FILE
// (llama.cpp's GBNF), --regex R. The flag's text is checked as it is parsed (the file readable, the schema
// JSON); the grammar is compiled once the tokenizer is loaded, and each turn's answer (after a think block,
// free) must match it.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "engine/session.h"

namespace qwen3::cli {

struct ConstraintArgs {
  std::string json_schema;  // the schema's JSON text (read from the file when the flag named one)
  std::string grammar;      // GBNF text
  std::string regex;
};

void add_constraint_options(CLI::App* cmd, ConstraintArgs& args);

// The compiled constraint (grammar null when no flag was given). Throws qwen3::Error naming the flag.
OutputConstraint make_output_constraint(const ConstraintArgs& args, const Tokenizer& tokenizer,
                                        const Model& model);

}  // namespace qwen3::cli
