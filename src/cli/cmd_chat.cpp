// qwen3 chat: an interactive chat in the terminal. Answers stream as they are generated, the reasoning dimmed
// between "Thinking…" and "…done thinking." (or folded with --hide-thinking); /think and /no_think in a
// message switch modes as Qwen documents; slash commands (chat_commands.h) for the rest. Input comes from the
// line editor (line_editor.h: UTF-8, bracketed paste, history in ~/.local/state/qwen3/history); `"""` blocks
// and trailing backslashes make multi-line messages (chat_input.h). Ctrl-C stops the current answer, at the
// prompt it clears the line (twice on an empty line, or Ctrl-D, quits). When the conversation no longer
// leaves room for an answer, the oldest turns are dropped (the system prompt stays), as llama-cli's context
// shift keeps its first tokens, and the chat says so. With stdin not a terminal, each input line is one turn
// (or a `"""` block, or backslash-continued lines) and only answers are printed.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

#include "chat/chat_template.h"
#include "cli/chat_commands.h"
#include "cli/chat_input.h"
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
  bool think = false, no_think = false, hide_thinking = false, no_history = false;
};

std::string expand_home(const std::string& path) {
  const char* home = std::getenv("HOME");
  return path.rfind("~/", 0) == 0 && home ? home + path.substr(1) : path;
}

class ChatApp {
 public:
  explicit ChatApp(const ChatArgs& a)
      : a_(a), tty_in_(::isatty(STDIN_FILENO)), tty_out_(::isatty(STDOUT_FILENO)) {
    thinking_ = a.think ? ThinkingChoice::kOn : a.no_think ? ThinkingChoice::kOff : ThinkingChoice::kDefault;
  }

  void run() {
    setup_utf8_locale();
    double t0 = now_seconds();
    model_ = load_model_from_args(a_.model);
    pool_ = make_pool(a_.model);
    tok_ = std::make_unique<Tokenizer>(Tokenizer::load(model_->dir));
    constraint_ = make_output_constraint(a_.gen.constraint, *tok_, *model_);
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
      std::fprintf(stderr, "%s", kChatHelp);
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
    // The editor draws where the person looks: the terminal, even when answers go to a file.
    int editor_fd = tty_out_ || !::isatty(STDERR_FILENO) ? STDOUT_FILENO : STDERR_FILENO;
    ChatInput input(tty_in_, editor_fd, a_.no_history ? "" : default_history_path());
    while (!quit_) {
      std::fflush(stdout);
      std::optional<std::string> text = input.next();
      if (!text) break;
      if (text->find_first_not_of(" \t\r\n") == std::string::npos) continue;
      ChatInputLine in = classify_chat_input(*text);
      if (in.kind == ChatInputLine::Kind::kUnknownCommand)
        std::fprintf(stderr, "unknown command %s, see /help\n", in.text.c_str());
      else if (in.kind == ChatInputLine::Kind::kCommand)
        command(in.text, in.arg);
      else
        turn(in.text);
    }
    if (tty_in_) std::fprintf(stderr, "\n");
  }

 private:
  void reset() {
    messages_ = ojson::array();
    if (!a_.system.empty()) messages_.push_back({{"role", "system"}, {"content", a_.system}});
    session_->reset();
    turns_ = 0;
  }

  void command(const std::string& cmd, const std::string& arg) {
    if (cmd == "/exit" || cmd == "/quit" || cmd == "/bye") {
      quit_ = true;
    } else if (cmd == "/reset" || cmd == "/clear") {
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
    } else if (cmd == "/help" || cmd == "/?") {
      std::fprintf(stderr, "%s", kChatHelp);
    } else if (cmd == "/regen") {
      regenerate();
    } else if (cmd == "/set") {
      set(arg);
    } else if (cmd == "/save" || cmd == "/load") {
      save_or_load(cmd, arg);
    }
  }

  void set(const std::string& arg) {
    if (arg.find_first_not_of(" \t") == std::string::npos) {
      std::fprintf(stderr, "thinking:     %s\nnon-thinking: %s\n",
                   describe_sampling(make_generation_params(a_.gen, *model_, true).sampling).c_str(),
                   describe_sampling(make_generation_params(a_.gen, *model_, false).sampling).c_str());
      std::fprintf(stderr, "seed %s, max_tokens %d, thinking_budget %d, thinking %s\n",
                   a_.gen.seed ? std::to_string(*a_.gen.seed).c_str() : "random", a_.gen.max_tokens,
                   a_.gen.thinking_budget,
                   thinking_ == ThinkingChoice::kOn    ? "on"
                   : thinking_ == ThinkingChoice::kOff ? "off"
                                                       : "as the template (on; /no_think in a message)");
      return;
    }
    std::string said =
        apply_set(arg, a_.gen, thinking_, [&](const GenerationArgs& g) -> std::optional<std::string> {
          try {
            for (bool thinking : {true, false}) {
              GenerationParams p = make_generation_params(g, *model_, thinking);
              if (auto e = check_sampling_params(p.sampling, model_->n_vocab_tokens)) return e->message;
            }
          } catch (const Error& e) {
            return std::string(e.what());
          }
          return std::nullopt;
        });
    std::fprintf(stderr, "(%s)\n", said.c_str());
  }

  void save_or_load(const std::string& cmd, const std::string& arg) {
    std::string path = arg;
    while (!path.empty() && (path.back() == ' ' || path.back() == '\t' || path.back() == '\n'))
      path.pop_back();
    if (path.empty()) {
      std::fprintf(stderr, "usage: %s FILE\n", cmd.c_str());
      return;
    }
    path = expand_home(path);
    try {
      if (cmd == "/save") {
        save_conversation(path, messages_);
        std::fprintf(stderr, "(saved %zu messages to %s)\n", messages_.size(), path.c_str());
        return;
      }
      ojson loaded = load_conversation(path);
      messages_ = loaded;
      a_.system =
          !loaded.empty() && loaded[0]["role"] == "system" ? loaded[0]["content"].get<std::string>() : "";
      turns_ = 0;
      for (const auto& m : messages_) turns_ += m["role"] == "assistant";
      std::fprintf(stderr, "(loaded %zu messages from %s)\n", messages_.size(), path.c_str());
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
    }
  }

  void regenerate() {
    if (!messages_.empty() && messages_.back()["role"] == "assistant") {
      ojson previous = messages_.back();
      messages_.erase(messages_.end() - 1);
      if (messages_.empty() || messages_.back()["role"] != "user") {
        messages_.push_back(previous);
        std::fprintf(stderr, "(nothing to regenerate)\n");
        return;
      }
      --turns_;
      if (!answer(++regenerations_)) messages_.push_back(previous), ++turns_;
    } else if (!messages_.empty() && messages_.back()["role"] == "user") {
      answer(++regenerations_);  // a loaded conversation that ends with a question
    } else {
      std::fprintf(stderr, "(nothing to regenerate)\n");
    }
  }

  void turn(const std::string& text) {
    messages_.push_back({{"role", "user"}, {"content", text}});
    regenerations_ = 0;
    if (!answer(0)) messages_.erase(messages_.end() - 1);
  }

  // Drops the oldest turn (a user message and the answers up to the next one), never the system prompt nor
  // the latest message; false when there is none to drop.
  bool drop_oldest_turn() {
    size_t first = !messages_.empty() && messages_[0]["role"] == "system" ? 1 : 0;
    size_t next = first + 1;
    while (next < messages_.size() && messages_[next]["role"] != "user") ++next;
    if (next >= messages_.size()) return false;
    messages_.erase(messages_.begin() + static_cast<std::ptrdiff_t>(first),
                    messages_.begin() + static_cast<std::ptrdiff_t>(next));
    return true;
  }

  ChatRequest request(int seed_offset) {
    ChatRequest req;
    req.messages = messages_;
    if (thinking_ != ThinkingChoice::kDefault) req.enable_thinking = thinking_ == ThinkingChoice::kOn;
    req.generation = make_generation_params(a_.gen, *model_, thinking_mode(req));
    req.generation.constraint = constraint_;
    req.generation.constraint.think_first = thinking_mode(req);
    // With a fixed seed, /regen draws the k-th regeneration with seed + k: a new answer, reproducibly.
    if (a_.gen.seed) req.generation.sampling.seed = *a_.gen.seed + static_cast<uint64_t>(seed_offset);
    return req;
  }

  // Makes room for an answer: drops the oldest turns while the prompt leaves less than the answer's room
  // (max_tokens, at most half the window; without it a quarter of the window). False when even the latest
  // message alone does not fit.
  bool fit_context(ChatRequest& req) {
    const int n_ctx = session_->n_ctx();
    const int room = a_.gen.max_tokens > 0 ? std::min(a_.gen.max_tokens, n_ctx / 2) : n_ctx / 4;
    size_t n_prompt = chat_prompt_tokens(*tmpl_, *tok_, req).size();
    int dropped = 0;
    while (static_cast<int>(n_prompt) + room > n_ctx && drop_oldest_turn()) {
      ++dropped;
      req.messages = messages_;
      n_prompt = chat_prompt_tokens(*tmpl_, *tok_, req).size();
    }
    if (dropped > 0) {
      turns_ = std::max(0, turns_ - dropped);
      std::fprintf(stderr,
                   "(context full: dropped the oldest %d turn%s to make room; /reset starts afresh)\n",
                   dropped, dropped > 1 ? "s" : "");
    }
    if (static_cast<int>(n_prompt) < n_ctx) return true;
    std::fprintf(stderr,
                 "error: this message needs %zu tokens but the context holds %d: shorten it or raise --ctx\n",
                 n_prompt, n_ctx);
    return false;
  }

  // Answers the conversation (which ends with a user message) and appends the answer; false on an error.
  bool answer(int seed_offset) {
    ChatRequest req;
    try {
      req = request(seed_offset);
      if (!fit_context(req)) return false;
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return false;
    }
    g_interrupted = false;
    const bool show = tty_out_;  // piped output carries answers only
    bool in_reasoning = false;
    double think_t0 = 0;
    auto end_reasoning = [&](bool done) {
      if (!in_reasoning) return;
      in_reasoning = false;
      if (!done)
        std::fputs("\033[0m\n", stdout);
      else if (a_.hide_thinking)
        std::printf(" done (%.1f s).\033[0m\n\n", now_seconds() - think_t0);
      else
        std::printf("\n…done thinking (%.1f s).\033[0m\n\n", now_seconds() - think_t0);
    };
    ChatResult r;
    try {
      r = run_chat_turn(*session_, *tmpl_, req, [&](const ParsedDelta& d) {
        if (!d.reasoning.empty() && show) {
          if (!in_reasoning) {
            std::fputs(a_.hide_thinking ? "\033[2mThinking…" : "\033[2mThinking…\n", stdout);
            in_reasoning = true;
            think_t0 = now_seconds();
          }
          if (!a_.hide_thinking) std::fwrite(d.reasoning.data(), 1, d.reasoning.size(), stdout);
        }
        if (!d.content.empty()) {
          end_reasoning(true);
          std::fwrite(d.content.data(), 1, d.content.size(), stdout);
        }
        for (const auto& tc : d.tool_calls) {
          end_reasoning(true);
          if (!tc.name.empty()) std::printf("[tool call %s] ", tc.name.c_str());
          std::fwrite(tc.arguments.data(), 1, tc.arguments.size(), stdout);
        }
        std::fflush(stdout);
        return !g_interrupted.load();
      });
    } catch (const Error& e) {
      end_reasoning(false);
      std::fprintf(stderr, "error: %s\n", e.what());
      return false;
    }
    end_reasoning(r.generation.finish != FinishReason::kCancelled && !r.output.thinking_unclosed);
    std::fputs("\n", stdout);
    std::fflush(stdout);
    last_ = r.generation;
    ++turns_;
    // History keeps the answer without its reasoning, as Qwen's template expects.
    messages_.push_back({{"role", "assistant"}, {"content", r.output.content}});
    const bool window_full =
        r.generation.finish == FinishReason::kLength &&
        (a_.gen.max_tokens < 0 || static_cast<int>(r.generation.tokens.size()) < a_.gen.max_tokens);
    if (tty_in_) {
      const char* why = r.generation.finish == FinishReason::kCancelled ? " (stopped)"
                        : window_full                                   ? " (context full)"
                        : r.generation.finish == FinishReason::kLength  ? " (length limit)"
                                                                        : "";
      std::fprintf(
          stderr,
          "\033[2m[prompt %d tokens at %.1f tok/s (%d reused), %zu generated at %.1f tok/s]%s\033[0m\n",
          r.generation.n_prefilled, r.generation.prompt_tps(), r.generation.n_reused,
          r.generation.tokens.size(), r.generation.decode_tps(), why);
    }
    if (window_full)
      std::fprintf(stderr,
                   "(the context window is full: the next message drops the oldest turns; /reset starts "
                   "afresh)\n");
    return true;
  }

  ChatArgs a_;
  bool tty_in_, tty_out_;
  bool quit_ = false;
  int turns_ = 0;
  int regenerations_ = 0;  // of the latest answer
  ThinkingChoice thinking_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Tokenizer> tok_;
  OutputConstraint constraint_;  // --json-schema, --grammar, --regex
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
  cmd->add_flag("--no-history", a->no_history,
                "keep no input history in $XDG_STATE_HOME/qwen3/history (~/.local/state/qwen3/history)");
  cmd->callback([a] {
    QWEN3_CHECK(!(a->think && a->no_think), "--think and --no-think exclude each other");
    ChatApp(*a).run();
  });
}

}  // namespace qwen3::cli
