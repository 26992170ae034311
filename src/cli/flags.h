// Command-line conventions every subcommand shares: llama.cpp's multi-letter single-dash names, one clear
// line for an option a subcommand does not have, and checks of flag values while CLI11 parses (so that a bad
// value fails in milliseconds, before any file is read). Each check throws qwen3::Error with one line "FLAG
// VALUE: why", which main() prints as "error: ..." before exiting 1.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sampling/sampler.h"

namespace qwen3::cli {

// argv[1..] rewritten for CLI11, which knows one-letter short names only and reads "-ngl 99" as "-n gl 99".
// Every argument that starts with one dash, is longer than two characters and is not the value of the option
// before it must be one of llama.cpp's multi-letter names (-ngl, -np, -ctk, -ctv, -hf, -hfr: replaced by
// their long names), a negative number, or a one-letter option with a number attached ("-n5"); anything else
// is an error naming it. So no cluster of letters is ever read as the value of another option. A long option
// the subcommand lacks is an error naming the option and the subcommand's --help. Throws qwen3::Error.
std::vector<std::string> normalize_args(const CLI::App& app, int argc, const char* const* argv);

// An integer flag's value must lie in [lo, hi]; `hint` (may be empty) ends the error line.
CLI::Option* check_int(CLI::Option* opt, int64_t lo, int64_t hi, const std::string& hint = "");
// A number flag's value must be finite and above `lo` (or at least `lo` when `inclusive`).
CLI::Option* check_number_above(CLI::Option* opt, double lo, bool inclusive);
// A sampling flag: its value, rounded to the float the sampler computes with, is put into default
// SamplingParams by `set` and judged by check_sampling_params, the rule the sampler and the server use.
CLI::Option* check_sampling(CLI::Option* opt, void (*set)(SamplingParams& p, float v));
// The value must be one of `choices`; the error line lists them.
CLI::Option* check_choice(CLI::Option* opt, const std::vector<std::string>& choices);

// --seed's value: a number in [0, 2^64 - 1], or -1 for a fresh random seed (llama.cpp's convention; nullopt).
std::optional<uint64_t> parse_seed(const std::string& flag, const std::string& value);

}  // namespace qwen3::cli
