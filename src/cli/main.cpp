// qwen3: one binary, one subcommand per job (see commands.h and docs/DESIGN.md for the contracts).
#include <algorithm>
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "cli/flags.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"qwen3.cpp: a fast, exact engine for Qwen3 models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "qwen3.cpp 0.1.0");
  // A flag given twice takes its last value (as llama.cpp and most tools), on every subcommand: they copy
  // these defaults when they are added.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->always_capture_default();
  qwen3::cli::add_synth_command(app);
  qwen3::cli::add_eval_command(app);
  qwen3::cli::add_generate_command(app);
  qwen3::cli::add_chat_command(app);
  qwen3::cli::add_template_command(app);
  qwen3::cli::add_tokenize_command(app);
  qwen3::cli::add_quantize_command(app);
  qwen3::cli::add_bench_command(app);
  qwen3::cli::add_serve_command(app);
  qwen3::cli::add_grammar_command(app);
  qwen3::cli::add_pull_command(app);
  qwen3::cli::add_perplexity_command(app);
  qwen3::cli::add_finetune_command(app);
  qwen3::cli::add_help_examples(app);
  try {
    std::vector<std::string> args = qwen3::cli::normalize_args(app, argc, argv);
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    app.name(argv[0]);
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s (see --help)\n", e.what());
    return 1;
  } catch (const qwen3::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
