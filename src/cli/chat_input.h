// Where `qwen3 chat` gets its messages: the line editor on a terminal (history kept across sessions, Ctrl-C
// clears the line or, on an empty one, warns before a second Ctrl-C quits), or the lines of stdin otherwise.
// In both, a message may span lines: a `"""` block (as Ollama) or lines ending in a backslash (as llama-cli).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/line_editor.h"

namespace qwen3::cli {

// Multibyte text in every library that reads it: the environment's locale (setlocale(LC_ALL, "")), with
// C.UTF-8 for LC_CTYPE when that is C or POSIX, and numbers kept in the C locale (LC_NUMERIC: "0.3", never
// "0,3", in flags, JSON and printf).
void setup_utf8_locale();

// Joins the lines of one message:
//   `"""` at the start of a line opens a block that the next line ending in `"""` closes; the lines between
//   (and any text after the opening or before the closing quotes) are the message, joined by newlines;
//   a line ending in a backslash continues on the next line (the backslash becomes the newline).
// A text holding newlines (Alt-Enter) counts as one line. (ChatInput takes a paste as it is, unless it goes
// into an open block or a continued line.)
class MultilineAssembler {
 public:
  // The message, once `line` completes one.
  std::optional<std::string> push(const std::string& line);
  bool pending() const { return mode_ != Mode::kNone; }
  // What an unfinished message has so far (sent when the input ends inside one).
  std::optional<std::string> flush();
  void cancel() { mode_ = Mode::kNone, text_.clear(), block_.clear(); }

 private:
  enum class Mode { kNone, kBlock, kContinued };
  std::string join_block() const;
  Mode mode_ = Mode::kNone;
  std::string text_;                // kContinued: the lines so far, each with its newline
  std::vector<std::string> block_;  // kBlock: the lines so far
};

// $XDG_STATE_HOME/qwen3/history, else ~/.local/state/qwen3/history; empty without either variable.
std::string default_history_path();
// One history entry per line: backslashes and newlines escaped as \\ and \n.
std::string escape_history_entry(const std::string& entry);
std::string unescape_history_entry(const std::string& line);

class ChatInput {
 public:
  static constexpr size_t kHistoryMax = 1000;  // entries loaded from the history file

  // terminal: read through the line editor (echo on out_fd); else lines of stdin. history_file: where entries
  // are appended (terminal only; empty: none).
  ChatInput(bool terminal, int out_fd, std::string history_file);

  // The next message or command line; nothing at the end of input (Ctrl-D, a second Ctrl-C on an empty line,
  // end of stdin).
  std::optional<std::string> next();

 private:
  std::optional<std::string> read_terminal();
  void remember(const std::string& message);

  bool terminal_;
  int out_fd_;
  std::unique_ptr<LineEditor> editor_;
  MultilineAssembler lines_;
  std::string history_file_;
  bool warned_ = false;  // the previous key was Ctrl-C on an empty line
};

}  // namespace qwen3::cli
