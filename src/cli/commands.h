// Each subcommand of the `qwen3` binary lives in its own cmd_*.cpp and registers itself with CLI11 here.
// A subcommand's callback throws qwen3::Error for user errors; main() prints it as one line and exits 1.
#pragma once

#include <CLI/CLI.hpp>

namespace qwen3::cli {

// (registrars are added here as subcommands land)

}  // namespace qwen3::cli
