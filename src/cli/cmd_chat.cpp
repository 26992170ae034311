// qwen3 chat: an interactive chat in the terminal. Answers stream as they are generated, thinking dimmed (or
// folded with --hide-thinking); /think and /no_think in a message switch modes as Qwen documents; commands
// /reset, /system TEXT, /stats, /help, /exit; line editing and history from libedit; Ctrl-C stops the current
// answer, Ctrl-D exits. With stdin not a terminal, each input line is one turn and only answers are printed.
#include <editline/readline.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/generation_args.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "core/timer.h"
#include "engine/chat_turn.h"

namespace qwen3::cli {

using ojson = nlohmann::ordered_json;

namespace {

std::atomic<bool> g_interrupted{false};

void on_sigint(int) {
  g_interrupted = true;
}

struct ChatArgs {
  ModelArgs model;
  GenerationArgs gen;
  std::string system;
  bool think = false, no_think = false, hide_thinking = false;
};

const char* kHelp =
    "commands: /reset (forget the conversation), /system TEXT (set the system prompt and reset),\n"
    "          /stats (speeds and cache), /help, /exit (or Ctrl-D). Ctrl-C stops the current answer.\n"
    "          Put /think or /no_think in a message to switch thinking on or off (Qwen3's soft switch).\n";

class ChatApp {
 public:
  explicit ChatApp(const ChatArgs& a)
      : a_(a), tty_in_(::isatty(STDIN_FILENO)), tty_out_(::isatty(STDOUT_FILENO)) {}

  void run() {
    double t0 = now_seconds();
    model_ = load_model_from_args(a_.model);
    pool_ = make_pool(a_.model);
    tok_ = std::make_unique<Tokenizer>(Tokenizer::load(model_->dir));
    tmpl_ = std::make_unique<ChatTemplate>(ChatTemplate::load(model_->dir));
    session_ = std::make_unique<Session>(*model_, *tok_, context_size(a_.gen, *model_), pool_.get(),
                                         kv_type_for(a_.model.kv_type, model_->config));
    if (tty_in_) {
      std::fprintf(
          stderr,
          "qwen3 chat: %s (%d layers, %s weights), loaded in %.1f s, context %d tokens (%s KV cache), %d "
          "threads\n",
          model_->dir.c_str(), model_->config.num_hidden_layers, dtype_name(model_->matrix_dtype()),
          now_seconds() - t0, session_->n_ctx(), dtype_name(session_->kv_type()), pool_->size());
      std::fprintf(stderr, "%s", kHelp);
    }
    if (model_->synthetic())
      std::fprintf(stderr,
                   "NOTE: this is a synthetic model with random weights (made by qwen3 synth): its words are "
                   "random.\n");
    reset();
    struct sigaction sa = {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    for (;;) {
      std::string line;
      if (!read_line(line)) break;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (line[0] == '/' && handle_command(line)) {
        if (quit_) break;
        continue;
      }
      turn(line);
    }
    if (tty_in_) std::fprintf(stderr, "\n");
  }

 private:
  bool read_line(std::string& out) {
    if (!tty_in_) return static_cast<bool>(std::getline(std::cin, out));
    g_interrupted = false;
    char* raw = readline("> ");
    if (!raw) return false;  // Ctrl-D
    out = raw;
    if (*raw) add_history(raw);
    std::free(raw);
    return true;
  }

  void reset() {
    messages_ = ojson::array();
    if (!a_.system.empty()) messages_.push_back({{"role", "system"}, {"content", a_.system}});
    session_->reset();
  }

  // Returns true when the line was a command.
  bool handle_command(const std::string& line) {
    std::string cmd = line.substr(0, line.find(' '));
    std::string arg = line.size() > cmd.size() ? line.substr(cmd.size() + 1) : "";
    if (cmd == "/exit" || cmd == "/quit") {
      quit_ = true;
    } else if (cmd == "/reset") {
      reset();
      std::fprintf(stderr, "(conversation cleared)\n");
    } else if (cmd == "/system") {
      a_.system = arg;
      reset();
      std::fprintf(stderr, "(system prompt set; conversation cleared)\n");
    } else if (cmd == "/stats") {
      std::fprintf(stderr,
                   "turns %d | cached tokens %zu of %d | last: prompt %d tokens (%d reused) at %.1f tok/s, "
                   "%zu generated at %.1f tok/s\n",
                   turns_, session_->cached_tokens().size(), session_->n_ctx(), last_.n_prefilled,
                   last_.n_reused, last_.prompt_tps(), last_.tokens.size(), last_.decode_tps());
    } else if (cmd == "/help") {
      std::fprintf(stderr, "%s", kHelp);
    } else {
      return false;  // "/think …", "/no_think …" and other text go to the model
    }
    return true;
  }

  void turn(const std::string& text) {
    messages_.push_back({{"role", "user"}, {"content", text}});
    ChatRequest req;
    req.messages = messages_;
    if (a_.think) req.enable_thinking = true;
    if (a_.no_think) req.enable_thinking = false;
    req.generation = make_generation_params(a_.gen, *model_, thinking_mode(req));
    g_interrupted = false;
    bool in_reasoning = false, folded_note = false;
    auto end_reasoning = [&] {
      if (in_reasoning && tty_out_ && !a_.hide_thinking) std::fputs("\033[0m\n", stdout);
      in_reasoning = false;
    };
    ChatResult r;
    try {
      r = run_chat_turn(*session_, *tmpl_, req, [&](const ParsedDelta& d) {
        if (!d.reasoning.empty()) {
          if (a_.hide_thinking || !tty_out_) {
            if (a_.hide_thinking && tty_out_ && !folded_note)
              std::fputs("\033[2m(thinking…)\033[0m\n", stdout);
            folded_note = true;
          } else {
            if (!in_reasoning) std::fputs("\033[2m", stdout);
            in_reasoning = true;
            std::fwrite(d.reasoning.data(), 1, d.reasoning.size(), stdout);
          }
        }
        if (!d.content.empty()) {
          end_reasoning();
          std::fwrite(d.content.data(), 1, d.content.size(), stdout);
        }
        for (const auto& tc : d.tool_calls) {
          end_reasoning();
          if (!tc.name.empty()) std::printf("[tool call %s] ", tc.name.c_str());
          std::fwrite(tc.arguments.data(), 1, tc.arguments.size(), stdout);
        }
        std::fflush(stdout);
        return !g_interrupted.load();
      });
    } catch (const Error& e) {
      end_reasoning();
      messages_.erase(messages_.end() - 1);
      std::fprintf(stderr, "error: %s\n", e.what());
      return;
    }
    end_reasoning();
    std::fputs("\n", stdout);
    std::fflush(stdout);
    last_ = r.generation;
    ++turns_;
    // History keeps the answer without its reasoning, as Qwen's template expects.
    messages_.push_back({{"role", "assistant"}, {"content", r.output.content}});
    if (tty_in_) {
      const char* why = r.generation.finish == FinishReason::kCancelled ? " (stopped)"
                        : r.generation.finish == FinishReason::kLength  ? " (length limit)"
                                                                        : "";
      std::fprintf(
          stderr,
          "\033[2m[prompt %d tokens at %.1f tok/s (%d reused), %zu generated at %.1f tok/s]%s\033[0m\n",
          r.generation.n_prefilled, r.generation.prompt_tps(), r.generation.n_reused,
          r.generation.tokens.size(), r.generation.decode_tps(), why);
    }
  }

  ChatArgs a_;
  bool tty_in_, tty_out_;
  bool quit_ = false;
  int turns_ = 0;
  std::unique_ptr<Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<ChatTemplate> tmpl_;
  std::unique_ptr<Session> session_;
  ojson messages_;
  GenerationResult last_;
};

}  // namespace

void add_chat_command(CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  CLI::App* cmd = app.add_subcommand("chat", "chat with the model in the terminal");
  add_model_options(cmd, a->model);
  add_kv_type_option(cmd, a->model.kv_type);
  add_generation_options(cmd, a->gen);
  cmd->add_option("--system", a->system, "system prompt");
  cmd->add_flag("--think", a->think, "thinking mode (enable_thinking=true; the template's default)");
  cmd->add_flag("--no-think", a->no_think, "non-thinking mode (enable_thinking=false)");
  cmd->add_flag("--hide-thinking", a->hide_thinking,
                "fold the reasoning: show only that the model is thinking");
  cmd->callback([a] {
    QWEN3_CHECK(!(a->think && a->no_think), "--think and --no-think exclude each other");
    ChatApp(*a).run();
  });
}

}  // namespace qwen3::cli
