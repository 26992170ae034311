// The line editor of `qwen3 chat`, written for the chat as llama.cpp (common/console.cpp) and Ollama
// (readline/) write theirs: UTF-8 text edited by grapheme cluster (utf8proc's UAX #29 rules, so a letter and
// its combining marks, a Hangul syllable or an emoji sequence moves and deletes as one), widths from utf8proc
// (CJK and emoji take two columns, combining marks none; a cluster's code points are summed, as terminals
// that place characters by wcwidth place them), lines that wrap and may hold newlines, history, and bracketed
// paste: a paste is inserted whole, newlines included, and goes as one message at the next Enter. Text is
// kept and edited in logical order, which is how terminals show right-to-left text too.
//
// Keys: Enter sends; Alt-Enter inserts a newline; ←/→ Ctrl-B/F; Ctrl-←/→ Alt-B/F by word; Home/End Ctrl-A/E;
// Backspace; Delete; Ctrl-D deletes, or on an empty line ends the input; Ctrl-K/Ctrl-U kill to the end/start;
// Ctrl-W, Alt-Backspace kill a word; ↑/↓ Ctrl-P/N walk the history; Ctrl-L clears the screen; Ctrl-Z
// suspends; Ctrl-C returns kInterrupt with what was typed (the caller decides what it means).
//
// read() puts the terminal in raw mode (no echo, no signals, no output processing, bracketed paste on) before
// it draws the prompt, so that no key typed once the prompt shows is read in the terminal's own mode (where
// Ctrl-C would be a signal, lost to the editor); it stays so across reads until restore(), which the caller
// calls before it prints anything else (an answer, a message), and the destructor. Modes change with
// TCSADRAIN, which keeps text typed ahead. SIGTERM, SIGHUP and SIGQUIT restore the terminal before they end
// the program. Where the terminal cannot be driven (TERM=dumb or unset, as in Emacs' shell) read() reads one
// plain line in the terminal's own mode.
#pragma once

#include <termios.h>

#include <string>
#include <string_view>
#include <vector>

namespace qwen3::cli {

// Byte offsets where each grapheme cluster of `text` (valid UTF-8) starts, then text.size().
std::vector<size_t> cluster_starts(std::string_view text);
// The columns a terminal gives `text` (one line, valid UTF-8): utf8proc's width of each code point.
int display_width(std::string_view text);
// `text` with each byte that is not part of a valid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

class LineEditor {
 public:
  enum class Status { kLine, kInterrupt, kEof };
  struct Result {
    Status status = Status::kEof;
    std::string text;     // the line (kLine), or what had been typed when Ctrl-C came (kInterrupt)
    bool pasted = false;  // some of it came from a (bracketed) paste
  };

  // Reads keys from in_fd and draws on out_fd. Raw mode needs in_fd to be a terminal and TERM not dumb;
  // otherwise each read() takes one plain line.
  LineEditor(int in_fd, int out_fd);
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  Result read(std::string_view prompt);
  // The terminal back in its own mode (bracketed paste off); read() leaves it raw.
  void restore() { leave_raw(); }
  void add_history(const std::string& entry);  // consecutive repeats are kept once
  const std::vector<std::string>& history() const { return history_; }
  bool raw_capable() const { return raw_capable_; }

 private:
  enum class Key;
  Result read_plain(std::string_view prompt);
  void enter_raw();
  void leave_raw();
  // One input byte: >= 0, or -1 at end of input, -2 when `timeout_ms` (>= 0) passed, -3 on a signal.
  int next_byte(int timeout_ms = -1);
  Key next_key(std::string& text);
  void read_paste();
  void insert(std::string_view text);
  void refresh();
  bool append_in_place(std::string_view typed);
  void write_out(std::string_view s);
  size_t prev_boundary(size_t at) const;
  size_t next_boundary(size_t at) const;
  size_t word_left(size_t at) const;
  size_t word_right(size_t at) const;
  void set_text(std::string text);

  int in_fd_, out_fd_;
  bool raw_capable_ = false, raw_ = false;
  termios orig_{};
  std::string inbuf_;
  size_t inpos_ = 0;
  std::string prompt_;
  std::string text_;    // valid UTF-8
  size_t cursor_ = 0;   // byte offset, at a cluster start
  int rows_above_ = 0;  // rows between the prompt's first row and the cursor, as last drawn
  int cursor_col_ = 0;  // the cursor's column, as last drawn
  int cols_ = 80;       // the terminal's width at the last refresh
  std::vector<std::string> history_;
  size_t history_pos_ = 0;  // == history_.size(): the line being edited
  std::string edited_;      // the line being edited, kept while walking the history
  bool pasted_ = false;     // a paste went into this line
};

}  // namespace qwen3::cli
