// The slash commands of `qwen3 chat`: what a typed message is (a message, a command, an unknown command),
// `/set` of sampling parameters and the thinking budget, and `/save`/`/load` of the conversation (a JSON
// array of OpenAI-style messages, as `qwen3 generate --messages` reads).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/generation_args.h"
#include "sampling/sampler.h"

namespace qwen3::cli {

extern const char* const kChatHelp;

struct ChatInputLine {
  enum class Kind { kMessage, kCommand, kUnknownCommand };
  Kind kind = Kind::kMessage;
  std::string text;  // kMessage: what goes to the model; else the command's name ("/set")
  std::string arg;   // the command's argument: the rest after the name and its blanks
};

// A message starting with '/' is a command, unless it starts with "//" (sent with one '/' less) or with
// Qwen's soft switches /think and /no_think (sent as typed). Anything else is a message.
ChatInputLine classify_chat_input(const std::string& text);

// The thinking mode `/set think|nothink|default` chooses (the --think / --no-think flags).
enum class ThinkingChoice { kDefault, kOn, kOff };

// `/set NAME VALUE`: sets one parameter in `gen` (or `thinking`) when `check` accepts the resulting settings
// (it returns the problem, or nothing); VALUE `default` gives the parameter back to the model's defaults.
// Returns the line to show: what was set, or why not. Names: temperature (temp), top_k, top_p, min_p,
// repeat_penalty (repetition_penalty), presence_penalty, frequency_penalty, seed (a number, or -1/random),
// max_tokens (n_predict, num_predict; -1 = no limit), thinking_budget (-1 = none); `/set think`, `/set
// nothink`. Ollama's `/set parameter NAME VALUE` is understood too.
std::string apply_set(const std::string& arg, GenerationArgs& gen, ThinkingChoice& thinking,
                      const std::function<std::optional<std::string>(const GenerationArgs&)>& check);

// "temperature 0.6, top_k 20, top_p 0.95, min_p 0, repeat_penalty 1, presence_penalty 0, frequency_penalty 0"
std::string describe_sampling(const SamplingParams& s);

// Writes the messages as pretty-printed JSON; throws qwen3::Error naming the file when it cannot.
void save_conversation(const std::string& path, const nlohmann::ordered_json& messages);
// Reads and checks a conversation: an array of objects with a "role" (system, first only; user; assistant;
// tool) and a string "content"; other fields are kept. Throws qwen3::Error naming the file and the problem.
nlohmann::ordered_json load_conversation(const std::string& path);

}  // namespace qwen3::cli
