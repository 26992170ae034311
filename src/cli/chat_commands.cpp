#include "cli/chat_commands.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "core/json.h"

namespace qwen3::cli {

using ojson = nlohmann::ordered_json;

const char* const kChatHelp =
    "commands: /help or /?                this help\n"
    "          /exit, /bye or /quit       leave (also Ctrl-D, or Ctrl-C twice on an empty line)\n"
    "          /reset or /clear           forget the conversation (the system prompt stays)\n"
    "          /system TEXT               set the system prompt and forget the conversation\n"
    "          /regen                     answer the last message again\n"
    "          /save FILE, /load FILE     the conversation as a JSON array of messages\n"
    "          /set NAME VALUE            temperature, top_k, top_p, min_p, repeat_penalty, "
    "presence_penalty,\n"
    "                                     frequency_penalty, seed, max_tokens, thinking_budget (VALUE "
    "default:\n"
    "                                     the model's); /set think, /set nothink; /set alone shows them\n"
    "          /stats                     speeds and cache\n"
    "Put /think or /no_think in a message to switch thinking for it (Qwen3's soft switch); //text sends "
    "/text.\n"
    "Several lines: paste them, or type \"\"\" ... \"\"\", or end a line with \\ (Alt-Enter: a newline).\n"
    "Ctrl-C stops an answer; at the prompt it clears the line.\n";

namespace {

const char* const kCommands[] = {"/help",   "/?",     "/exit", "/bye",  "/quit", "/reset", "/clear",
                                 "/system", "/regen", "/save", "/load", "/set",  "/stats"};

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::optional<double> parse_number(const std::string& v) {
  double x = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty()) return std::nullopt;
  return x;
}

std::optional<long long> parse_integer(const std::string& v) {
  long long x = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty()) return std::nullopt;
  return x;
}

std::string fmt(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

}  // namespace

ChatInputLine classify_chat_input(const std::string& text) {
  if (text.rfind("//", 0) == 0) return {ChatInputLine::Kind::kMessage, text.substr(1), ""};
  if (text.empty() || text[0] != '/') return {ChatInputLine::Kind::kMessage, text, ""};
  size_t end = 0;
  while (end < text.size() && !is_blank(text[end])) ++end;
  std::string name = text.substr(0, end);
  if (name == "/think" || name == "/no_think") return {ChatInputLine::Kind::kMessage, text, ""};
  size_t arg = end;
  while (arg < text.size() && (text[arg] == ' ' || text[arg] == '\t')) ++arg;
  if (arg < text.size() && text[arg] == '\n') ++arg;  // "/system" then a pasted block
  for (const char* c : kCommands)
    if (name == c) return {ChatInputLine::Kind::kCommand, name, text.substr(arg)};
  return {ChatInputLine::Kind::kUnknownCommand, name, text.substr(arg)};
}

std::string describe_sampling(const SamplingParams& s) {
  return "temperature " + fmt(s.temperature) + ", top_k " + std::to_string(s.top_k) + ", top_p " +
         fmt(s.top_p) + ", min_p " + fmt(s.min_p) + ", repeat_penalty " + fmt(s.repetition_penalty) +
         ", presence_penalty " + fmt(s.presence_penalty) + ", frequency_penalty " + fmt(s.frequency_penalty);
}

std::string apply_set(const std::string& arg, GenerationArgs& gen, ThinkingChoice& thinking,
                      const std::function<std::optional<std::string>(const GenerationArgs&)>& check) {
  std::istringstream words(arg);
  std::string name, value, extra;
  words >> name;
  if (name == "parameter") words >> name;  // Ollama's spelling
  words >> value >> extra;
  if (name == "think" || name == "nothink") {
    if (!value.empty()) return "usage: /set " + name;
    thinking = name == "think" ? ThinkingChoice::kOn : ThinkingChoice::kOff;
    return name == "think" ? "thinking on" : "thinking off";
  }
  if (name.empty() || value.empty() || !extra.empty())
    return "usage: /set NAME VALUE (see /help), or /set alone to see the settings";
  GenerationArgs next = gen;
  const bool reset = value == "default";
  auto set_float = [&](std::optional<float>& field) -> std::string {
    if (reset) return field.reset(), "";
    auto x = parse_number(value);
    if (!x) return name + " " + value + ": not a number";
    field = to_sampling_float(*x);
    return "";
  };
  auto set_int = [&](auto& field, long long lo, long long hi, const char* range) -> std::string {
    auto x = parse_integer(value);
    if (!x || *x < lo || *x > hi) return name + " " + value + ": choose an integer " + range;
    field = static_cast<std::remove_reference_t<decltype(field)>>(*x);
    return "";
  };
  constexpr long long kIntMax = std::numeric_limits<int>::max();
  std::string problem;
  if (name == "temperature" || name == "temp") {
    name = "temperature";
    problem = set_float(next.temperature);
  } else if (name == "top_p") {
    problem = set_float(next.top_p);
  } else if (name == "min_p") {
    problem = set_float(next.min_p);
  } else if (name == "repeat_penalty" || name == "repetition_penalty") {
    name = "repeat_penalty";
    problem = set_float(next.repetition_penalty);
  } else if (name == "presence_penalty") {
    problem = set_float(next.presence_penalty);
  } else if (name == "frequency_penalty") {
    problem = set_float(next.frequency_penalty);
  } else if (name == "top_k") {
    if (reset)
      next.top_k.reset();
    else
      problem = set_int(next.top_k, 0, kIntMax, ">= 0 (0: off)");
  } else if (name == "seed") {
    if (reset || value == "-1" || value == "random") {
      next.seed.reset();
    } else {
      uint64_t s = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
      if (ec != std::errc() || end != value.data() + value.size())
        problem = "seed " + value + ": choose an integer >= 0, or -1 (random)";
      else
        next.seed = s;
    }
  } else if (name == "max_tokens" || name == "n_predict" || name == "num_predict") {
    name = "max_tokens";
    if (reset)
      next.max_tokens = -1;
    else
      problem = set_int(next.max_tokens, -1, kIntMax, ">= -1 (-1: no limit)");
  } else if (name == "thinking_budget") {
    if (reset)
      next.thinking_budget = -1;
    else
      problem = set_int(next.thinking_budget, -1, kIntMax, ">= -1 (-1: no limit)");
  } else {
    return "unknown parameter " + name + ", see /help";
  }
  if (problem.empty())
    if (auto bad = check(next)) problem = *bad;
  if (!problem.empty()) return problem + " (unchanged)";
  gen = next;
  return reset ? name + " back to the model's default" : name + " set to " + value;
}

void save_conversation(const std::string& path, const ojson& messages) {
  std::ofstream out(path, std::ios::trunc);
  QWEN3_CHECK(out.good(), "%s: cannot write the file", path.c_str());
  out << messages.dump(2) << '\n';
  out.close();
  QWEN3_CHECK(out.good(), "%s: cannot write the file", path.c_str());
}

ojson load_conversation(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  QWEN3_CHECK(in.good(), "%s: cannot read the file", path.c_str());
  std::stringstream text;
  text << in.rdbuf();
  ojson messages;
  try {
    messages = parse_json(text.str());
  } catch (const Error& e) {
    throw_error("%s: %s", path.c_str(), e.what());
  }
  QWEN3_CHECK(messages.is_array(), "%s: expected a JSON array of messages", path.c_str());
  for (size_t i = 0; i < messages.size(); ++i) {
    const ojson& m = messages[i];
    QWEN3_CHECK(m.is_object() && m.contains("role") && m["role"].is_string(),
                "%s: message %zu is not an object with a \"role\"", path.c_str(), i + 1);
    std::string role = m["role"];
    QWEN3_CHECK(role == "user" || role == "assistant" || role == "tool" || (role == "system" && i == 0),
                "%s: message %zu: role \"%s\" (choose user, assistant, tool, or system first)", path.c_str(),
                i + 1, role.c_str());
    QWEN3_CHECK(m.contains("content") && m["content"].is_string(),
                "%s: message %zu: \"content\" must be a string", path.c_str(), i + 1);
  }
  return messages;
}

}  // namespace qwen3::cli
