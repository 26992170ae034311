// The example lines each subcommand's --help ends with (and every default is shown beside its flag: main()
// sets always_capture_default on the options every subcommand copies).
#include <map>
#include <string>

#include "cli/commands.h"

namespace qwen3::cli {

void add_help_examples(CLI::App& app) {
  static const std::map<std::string, std::string> examples = {
      {"synth", "qwen3 synth --preset qwen3-0.6b --out /tmp/q06 --dtype bf16"},
      {"eval",
       "echo '{\"ids\":[9707,11,1879],\"n_predict\":4,\"logits\":false}' | qwen3 eval -m MODEL --jsonl"},
      {"generate",
       "qwen3 generate -m MODEL -p \"Why is the sky blue?\" --no-think\n"
       "  qwen3 generate -m MODEL -p \"A user record\" --json-schema user.schema.json --json"},
      {"chat", "qwen3 chat -m MODEL --temp 0.6 --thinking-budget 256"},
      {"template",
       "echo '{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"add_generation_prompt\":true}' | "
       "qwen3 template -m MODEL --jsonl"},
      {"tokenize", "qwen3 tokenize -m MODEL \"Hello world\""},
      {"quantize", "qwen3 quantize -m MODEL -o /tmp/q8 --type q8_0"},
      {"bench", "qwen3 bench -m MODEL -p 512 -n 128 -r 5 --dtype q8_0"},
      {"serve", "qwen3 serve -m MODEL --port 8080 --parallel 4 --api-key secret"},
      {"grammar",
       "echo '{\"schema\":{\"type\":\"boolean\"},\"tests\":[\"true\"]}' | qwen3 grammar -m MODEL --jsonl"},
      {"perplexity", "qwen3 perplexity -m MODEL -f wiki.test.raw -c 512 --json"},
      {"pull", "qwen3 pull Qwen/Qwen3-0.6B"},
      {"finetune", "qwen3 finetune -m MODEL --data train.jsonl --out adapter/"},
  };
  for (CLI::App* sub : app.get_subcommands({})) {
    auto it = examples.find(sub->get_name());
    if (it != examples.end()) sub->footer("\nExample:\n  " + it->second);
  }
}

}  // namespace qwen3::cli
