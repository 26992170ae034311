// Each subcommand of the `qwen3` binary lives in its own cmd_*.cpp and registers itself with CLI11 here.
// A subcommand's callback throws qwen3::Error for user errors; main() prints it as one line and exits 1.
#pragma once

#include <CLI/CLI.hpp>

namespace qwen3::cli {

void add_synth_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_template_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_grammar_command(CLI::App& app);
void add_pull_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_finetune_command(CLI::App& app);

// After every subcommand is added: the example line each --help ends with (cli/help.cpp).
void add_help_examples(CLI::App& app);

}  // namespace qwen3::cli
