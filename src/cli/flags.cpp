#include "cli/flags.h"

#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace qwen3::cli {

namespace {

// llama.cpp's names with one dash and several letters, and the long names they are declared under here.
struct DashName {
  const char* dash;
  const char* long_name;
};
constexpr DashName kDashNames[] = {
    {"-ngl", "--n-gpu-layers"}, {"-np", "--parallel"}, {"-ctk", "--cache-type-k"},
    {"-ctv", "--cache-type-v"}, {"-hf", "--hf-repo"},  {"-hfr", "--hf-repo"},
};

bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return *end == '\0';
}

bool takes_value(const CLI::Option* opt) {
  return opt->get_items_expected_max() > 0;
}

const CLI::App* find_subcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (sub->check_name(name)) return sub;
  return nullptr;
}

// "choose LO..HI", or "must be at least LO" when HI is the type's limit.
std::string range_text(int64_t lo, int64_t hi) {
  if (lo == INT32_MIN && hi == INT32_MAX) return "must be a 32-bit integer";
  if (hi == INT32_MAX || hi == INT64_MAX) return strfmt("must be at least %" PRId64, lo);
  return strfmt("choose %" PRId64 "..%" PRId64, lo, hi);
}

double parse_number(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const double x = v.empty() ? 0 : std::strtod(v.c_str(), &end);
  QWEN3_CHECK(!v.empty() && *end == '\0', "%s %s: not a number", flag.c_str(), v.c_str());
  return x;
}

}  // namespace

std::vector<std::string> normalize_args(const CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // The subcommand is the first argument that is not an option of the binary itself (--help, --version).
  size_t i = 0;
  while (i < args.size() && args[i].starts_with("-")) ++i;
  const CLI::App* cmd = i < args.size() ? find_subcommand(app, args[i]) : nullptr;
  if (!cmd) return args;  // CLI11 reports a missing or unknown subcommand
  const std::string name = cmd->get_name();
  for (++i; i < args.size(); ++i) {
    std::string& arg = args[i];
    if (arg == "--") break;                                           // the rest is positional
    if (arg.size() < 2 || arg[0] != '-' || is_number(arg)) continue;  // a positional argument
    const std::string typed = arg;
    if (arg[1] != '-' && arg.size() > 2) {
      const DashName* known = nullptr;
      for (const DashName& d : kDashNames)
        if (arg == d.dash) known = &d;
      if (known) {
        arg = known->long_name;
      } else {
        // "-n5": a one-letter option that takes a value, with a number attached.
        const CLI::Option* opt = cmd->get_option_no_throw(arg.substr(0, 2));
        QWEN3_CHECK(opt && takes_value(opt) && is_number(arg.substr(2)),
                    "unknown option %s for qwen3 %s (see qwen3 %s --help)", typed.c_str(), name.c_str(),
                    name.c_str());
        continue;
      }
    }
    const size_t eq = arg.find('=');
    const CLI::Option* opt = cmd->get_option_no_throw(arg.substr(0, eq));
    QWEN3_CHECK(opt, "unknown option %s for qwen3 %s (see qwen3 %s --help)", typed.substr(0, eq).c_str(),
                name.c_str(), name.c_str());
    if (eq == std::string::npos && takes_value(opt)) ++i;  // its value, whatever it looks like
  }
  return args;
}

CLI::Option* check_int(CLI::Option* opt, int64_t lo, int64_t hi, const std::string& hint) {
  return opt->check(CLI::Validator(
      [opt, lo, hi, hint](std::string& v) {
        const std::string flag = opt->get_name();
        char* end = nullptr;
        errno = 0;
        const long long x = v.empty() ? 0 : std::strtoll(v.c_str(), &end, 10);
        QWEN3_CHECK(!v.empty() && *end == '\0' && errno == 0, "%s %s: not an integer", flag.c_str(),
                    v.c_str());
        QWEN3_CHECK(x >= lo && x <= hi, "%s %s: %s%s%s", flag.c_str(), v.c_str(), range_text(lo, hi).c_str(),
                    hint.empty() ? "" : " ", hint.c_str());
        return std::string();
      },
      ""));
}

CLI::Option* check_number_above(CLI::Option* opt, double lo, bool inclusive) {
  return opt->check(CLI::Validator(
      [opt, lo, inclusive](std::string& v) {
        const std::string flag = opt->get_name();
        const double x = parse_number(flag, v);
        QWEN3_CHECK(std::isfinite(x) && (inclusive ? x >= lo : x > lo), "%s %s: must be %s %g", flag.c_str(),
                    v.c_str(), inclusive ? ">=" : ">", lo);
        return std::string();
      },
      ""));
}

CLI::Option* check_sampling(CLI::Option* opt, void (*set)(SamplingParams& p, float v)) {
  return opt->check(CLI::Validator(
      [opt, set](std::string& v) {
        const std::string flag = opt->get_name();
        SamplingParams p;
        set(p, to_sampling_float(parse_number(flag, v)));
        if (auto e = check_sampling_params(p, INT32_MAX))
          throw_error("%s %s: %s", flag.c_str(), v.c_str(), e->message.c_str());
        return std::string();
      },
      ""));
}

CLI::Option* check_choice(CLI::Option* opt, const std::vector<std::string>& choices) {
  return opt->check(CLI::Validator(
      [opt, choices](std::string& v) {
        std::string list;
        for (const std::string& c : choices) {
          if (v == c) return std::string();
          list += (list.empty() ? "" : c == choices.back() ? " or " : ", ") + c;
        }
        throw_error("%s %s: choose %s", opt->get_name().c_str(), v.c_str(), list.c_str());
      },
      ""));
}

std::optional<uint64_t> parse_seed(const std::string& flag, const std::string& v) {
  if (v == "-1") return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = v.empty() ? 0 : std::strtoull(v.c_str(), &end, 10);
  QWEN3_CHECK(!v.empty() && v[0] >= '0' && v[0] <= '9' && *end == '\0' && errno == 0,
              "%s %s: choose 0..18446744073709551615, or -1 for a random seed", flag.c_str(), v.c_str());
  return static_cast<uint64_t>(x);
}

}  // namespace qwen3::cli
