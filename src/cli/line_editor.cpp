#include "cli/line_editor.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <utf8proc.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace qwen3::cli {

namespace {

// Decodes the code point at text[at] (valid UTF-8) and advances `at`.
int32_t decode(std::string_view text, size_t& at) {
  utf8proc_int32_t cp = 0;
  utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + at),
                                        static_cast<utf8proc_ssize_t>(text.size() - at), &cp);
  at += n > 0 ? static_cast<size_t>(n) : 1;
  return n > 0 ? cp : 0xFFFD;
}

bool is_word_char(std::string_view cluster) {
  size_t at = 0;
  int32_t cp = decode(cluster, at);
  auto cat = utf8proc_category(cp);
  return cat != UTF8PROC_CATEGORY_ZS && cat != UTF8PROC_CATEGORY_CC && cat != UTF8PROC_CATEGORY_PO &&
         cat != UTF8PROC_CATEGORY_PS && cat != UTF8PROC_CATEGORY_PE && cat != UTF8PROC_CATEGORY_PD &&
         cat != UTF8PROC_CATEGORY_SM;
}

// The terminal state to put back when a signal ends the program inside read() (set only while raw).
volatile sig_atomic_t g_raw_fd = -1;
termios g_orig;
struct sigaction g_old_actions[3];
const int kRestoreSignals[3] = {SIGTERM, SIGHUP, SIGQUIT};

void restore_and_reraise(int sig) {
  if (g_raw_fd >= 0) {
    tcsetattr(g_raw_fd, TCSANOW, &g_orig);
    static const char off[] = "\033[?2004l";
    ssize_t ignored = ::write(g_raw_fd, off, sizeof off - 1);
    (void)ignored;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

std::vector<size_t> cluster_starts(std::string_view text) {
  std::vector<size_t> starts;
  utf8proc_int32_t state = 0, prev = -1;
  for (size_t at = 0; at < text.size();) {
    size_t here = at;
    int32_t cp = decode(text, at);
    if (prev < 0 || utf8proc_grapheme_break_stateful(prev, cp, &state)) starts.push_back(here);
    prev = cp;
  }
  starts.push_back(text.size());
  return starts;
}

int display_width(std::string_view text) {
  int w = 0;
  for (size_t at = 0; at < text.size();) w += utf8proc_charwidth(decode(text, at));
  return w;
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + at),
                                          static_cast<utf8proc_ssize_t>(text.size() - at), &cp);
    if (n > 0) {
      out.append(text.substr(at, static_cast<size_t>(n)));
      at += static_cast<size_t>(n);
    } else {
      out += "\xEF\xBF\xBD";
      ++at;
    }
  }
  return out;
}

// clang-format off
enum class LineEditor::Key {
  kText, kEnter, kNewline, kInterrupt, kCtrlD, kInputEnd, kSignal, kBackspace, kDelete, kLeft, kRight,
  kWordLeft, kWordRight, kHome, kEnd, kUp, kDown, kKillEnd, kKillStart, kKillWord, kClear, kSuspend, kPaste,
  kNone
};
// clang-format on

LineEditor::LineEditor(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {
  const char* term = std::getenv("TERM");
  bool dumb = !term || !*term || !std::strcmp(term, "dumb") || !std::strcmp(term, "emacs");
  raw_capable_ = !dumb && ::isatty(in_fd_) && tcgetattr(in_fd_, &orig_) == 0;
}

LineEditor::~LineEditor() {
  leave_raw();
}

void LineEditor::enter_raw() {
  if (raw_) return;
  termios raw = orig_;
  raw.c_iflag &= ~static_cast<tcflag_t>(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
  raw.c_oflag &= ~static_cast<tcflag_t>(OPOST);  // "\n" is written as "\r\n" where a new line is meant
  raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ICANON | IEXTEN | ISIG);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  g_orig = orig_;
  g_raw_fd = in_fd_;
  struct sigaction sa = {};
  sa.sa_handler = restore_and_reraise;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; ++i) sigaction(kRestoreSignals[i], &sa, &g_old_actions[i]);
  tcsetattr(in_fd_, TCSADRAIN, &raw);
  raw_ = true;
  write_out("\033[?2004h");  // bracketed paste on
}

void LineEditor::leave_raw() {
  if (!raw_) return;
  write_out("\033[?2004l");
  tcsetattr(in_fd_, TCSADRAIN, &orig_);
  g_raw_fd = -1;
  for (int i = 0; i < 3; ++i) sigaction(kRestoreSignals[i], &g_old_actions[i], nullptr);
  raw_ = false;
}

void LineEditor::write_out(std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(out_fd_, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

int LineEditor::next_byte(int timeout_ms) {
  if (inpos_ < inbuf_.size()) return static_cast<unsigned char>(inbuf_[inpos_++]);
  if (timeout_ms >= 0) {
    pollfd p{in_fd_, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r == 0) return -2;
    if (r < 0) return errno == EINTR ? -3 : -1;
  }
  char buf[4096];
  ssize_t n = ::read(in_fd_, buf, sizeof buf);
  if (n < 0) return errno == EINTR ? -3 : -1;
  if (n == 0) return -1;
  inbuf_.assign(buf, static_cast<size_t>(n));
  inpos_ = 1;
  return static_cast<unsigned char>(inbuf_[0]);
}

void LineEditor::add_history(const std::string& entry) {
  if (entry.empty() || (!history_.empty() && history_.back() == entry)) return;
  history_.push_back(entry);
}

LineEditor::Result LineEditor::read_plain(std::string_view prompt) {
  write_out(prompt);
  std::string line;
  for (;;) {
    int b = next_byte();
    if (b == -3) return {Status::kInterrupt, ""};
    if (b == -1) return {line.empty() ? Status::kEof : Status::kLine, valid_utf8(line)};
    if (b == '\n') break;
    line += static_cast<char>(b);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return {Status::kLine, valid_utf8(line)};
}

// Reads one key: typed text (a whole UTF-8 character) goes to `text`.
LineEditor::Key LineEditor::next_key(std::string& text) {
  int b = next_byte();
  if (b == -1) return Key::kInputEnd;
  if (b == -3) return Key::kSignal;
  // What each control byte does (Ctrl-A is 1, Ctrl-Z 26, Backspace 127 or Ctrl-H 8).
  // clang-format off
  static const Key kControl[32] = {
    Key::kNone,      Key::kHome,      Key::kLeft,    Key::kInterrupt,  // NUL ^A ^B ^C
    Key::kCtrlD,     Key::kEnd,       Key::kRight,   Key::kNone,       // ^D ^E ^F ^G
    Key::kBackspace, Key::kText,      Key::kEnter,   Key::kKillEnd,    // ^H Tab ^J ^K
    Key::kClear,     Key::kEnter,     Key::kDown,    Key::kNone,       // ^L ^M(Enter) ^N ^O
    Key::kUp,        Key::kNone,      Key::kNone,    Key::kNone,       // ^P ^Q ^R ^S
    Key::kNone,      Key::kKillStart, Key::kNone,    Key::kKillWord,   // ^T ^U ^V ^W
    Key::kNone,      Key::kNone,      Key::kSuspend, Key::kNone,       // ^X ^Y ^Z ESC (below)
    Key::kNone,      Key::kNone,      Key::kNone,    Key::kNone};
  // clang-format on
  if (b == 127) return Key::kBackspace;
  if (b == '\t') text = "\t";
  if (b < 0x20 && b != 27) return kControl[b];
  if (b == 27) {
    int c = next_byte(50);
    if (c == '\r' || c == '\n') return Key::kNewline;
    if (c == 'b' || c == 'B') return Key::kWordLeft;
    if (c == 'f' || c == 'F') return Key::kWordRight;
    if (c == 127 || c == 8) return Key::kKillWord;
    if (c != '[' && c != 'O') return Key::kNone;
    std::string params;  // CSI/SS3: parameter bytes, then one final byte in 0x40-0x7e
    int f;
    while ((f = next_byte(50)) >= 0x20 && f < 0x40) params += static_cast<char>(f);
    if (f < 0) return Key::kNone;
    bool ctrl_or_alt = params == "1;5" || params == "1;3";
    switch (f) {
      case 'A':
        return Key::kUp;
      case 'B':
        return Key::kDown;
      case 'C':
        return ctrl_or_alt ? Key::kWordRight : Key::kRight;
      case 'D':
        return ctrl_or_alt ? Key::kWordLeft : Key::kLeft;
      case 'H':
        return Key::kHome;
      case 'F':
        return Key::kEnd;
      case '~':
        if (params == "1" || params == "7") return Key::kHome;
        if (params == "4" || params == "8") return Key::kEnd;
        if (params == "3") return Key::kDelete;
        if (params == "200") return Key::kPaste;
        return Key::kNone;
      default:
        return Key::kNone;
    }
  }
  if (b < 0x20) return Key::kNone;  // other control keys do nothing
  // A UTF-8 character: its continuation bytes follow at once.
  std::string bytes(1, static_cast<char>(b));
  int n = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
  for (int i = 0; i < n; ++i) {
    int c = next_byte(50);
    if (c < 0) break;
    if ((c & 0xC0) != 0x80) {  // not a continuation: keep it for the next key
      --inpos_;
      break;
    }
    bytes += static_cast<char>(c);
  }
  text = valid_utf8(bytes);
  return Key::kText;
}

// Reads the pasted text up to ESC [201~ and inserts it: the terminal's CR line ends become \n, other control
// characters (which cannot be shown or edited) are dropped.
void LineEditor::read_paste() {
  static const std::string kEnd = "\033[201~";
  std::string paste;
  for (;;) {
    int b = next_byte();
    if (b == -3) continue;
    if (b < 0) break;
    paste += static_cast<char>(b);
    if (paste.size() >= kEnd.size() && paste.compare(paste.size() - kEnd.size(), kEnd.size(), kEnd) == 0) {
      paste.resize(paste.size() - kEnd.size());
      break;
    }
  }
  std::string clean;
  for (size_t i = 0; i < paste.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(paste[i]);
    if (c == '\r') {
      clean += '\n';
      if (i + 1 < paste.size() && paste[i + 1] == '\n') ++i;
    } else if (c >= 0x20 || c == '\n' || c == '\t') {
      if (c != 0x7f) clean += static_cast<char>(c);
    }
  }
  insert(valid_utf8(clean));
}

void LineEditor::insert(std::string_view s) {
  text_.insert(cursor_, s);
  cursor_ += s.size();
  // A combining mark or joiner typed before existing text can make the cursor fall inside a cluster.
  for (size_t start : cluster_starts(text_))
    if (start >= cursor_) {
      cursor_ = start;
      break;
    }
}

size_t LineEditor::prev_boundary(size_t at) const {
  size_t prev = 0;
  for (size_t start : cluster_starts(text_)) {
    if (start >= at) break;
    prev = start;
  }
  return prev;
}

size_t LineEditor::next_boundary(size_t at) const {
  for (size_t start : cluster_starts(text_))
    if (start > at) return start;
  return text_.size();
}

size_t LineEditor::word_left(size_t at) const {
  while (at > 0) {  // skip separators, then the word
    size_t p = prev_boundary(at);
    if (is_word_char(std::string_view(text_).substr(p, at - p))) break;
    at = p;
  }
  while (at > 0) {
    size_t p = prev_boundary(at);
    if (!is_word_char(std::string_view(text_).substr(p, at - p))) break;
    at = p;
  }
  return at;
}

size_t LineEditor::word_right(size_t at) const {
  while (at < text_.size()) {
    size_t n = next_boundary(at);
    if (is_word_char(std::string_view(text_).substr(at, n - at))) break;
    at = n;
  }
  while (at < text_.size()) {
    size_t n = next_boundary(at);
    if (!is_word_char(std::string_view(text_).substr(at, n - at))) break;
    at = n;
  }
  return at;
}

void LineEditor::set_text(std::string text) {
  text_ = std::move(text);
  cursor_ = text_.size();
}

// Redraws the prompt and the text from the prompt's first row, wrapping explicitly (a cluster that does not
// fit on the row starts the next one, as terminals place wide characters), then puts the cursor back.
// Wrapping ourselves means the terminal's pending-wrap state at the last column never decides where text
// goes.
void LineEditor::refresh() {
  winsize ws{};
  int cols = ioctl(out_fd_, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
  std::string out;
  if (rows_above_ > 0) out += "\033[" + std::to_string(rows_above_) + "A";
  out += "\r\033[J";
  out += prompt_;
  int row = 0, col = display_width(prompt_) % cols, cur_row = 0, cur_col = col;
  std::vector<size_t> starts = cluster_starts(text_);
  for (size_t i = 0; i + 1 < starts.size(); ++i) {
    std::string_view c = std::string_view(text_).substr(starts[i], starts[i + 1] - starts[i]);
    if (c == "\n") {
      if (starts[i] == cursor_) cur_row = row, cur_col = col;
      out += "\r\n";
      ++row, col = 0;
      continue;
    }
    int w = c == "\t" ? 8 - col % 8 : display_width(c);
    if (col + w > cols && col > 0) {
      out += "\r\n";
      ++row, col = 0;
      if (c == "\t") w = 8;
    }
    if (starts[i] == cursor_) cur_row = row, cur_col = col;
    if (c == "\t")
      out.append(static_cast<size_t>(w), ' ');
    else
      out += c;
    col += w;
  }
  if (cursor_ >= text_.size()) {
    if (col >= cols) {  // the cursor goes to the start of a row of its own
      out += "\r\n";
      ++row, col = 0;
    }
    cur_row = row, cur_col = col;
  }
  if (row != cur_row || col != cur_col) {
    out += "\r";
    if (row > cur_row) out += "\033[" + std::to_string(row - cur_row) + "A";
    if (cur_col > 0) out += "\033[" + std::to_string(cur_col) + "C";
  }
  rows_above_ = cur_row;
  cursor_col_ = cur_col;
  cols_ = cols;
  write_out(out);
}

// Typing at the end of the text with room left on the row only needs the new character written: no redraw
// (no flicker, and a line typed on a slow link costs its own bytes, not their square).
bool LineEditor::append_in_place(std::string_view typed) {
  if (cursor_ != text_.size() || typed == "\t") return false;
  int w = display_width(typed);
  if (cursor_col_ + w >= cols_) return false;
  text_ += typed;
  cursor_ = text_.size();
  cursor_col_ += w;
  write_out(typed);
  return true;
}

LineEditor::Result LineEditor::read(std::string_view prompt) {
  if (!raw_capable_) return read_plain(prompt);
  prompt_ = prompt;
  text_.clear();
  cursor_ = 0;
  rows_above_ = 0;
  history_pos_ = history_.size();
  pasted_ = false;
  enter_raw();
  refresh();
  Result result;
  auto finish = [&](Status status, std::string_view trailer) {
    if (cursor_ != text_.size()) {  // the cursor to the end, so that what follows starts below the text
      cursor_ = text_.size();
      refresh();
    }
    write_out(trailer);
    result = {status, text_, pasted_};
  };
  for (;;) {
    std::string typed;
    Key k = next_key(typed);
    switch (k) {
      case Key::kText:
        if (append_in_place(typed)) continue;
        insert(typed);
        break;
      case Key::kNewline:
        insert("\n");
        break;
      case Key::kPaste:
        read_paste();
        pasted_ = true;
        break;
      case Key::kEnter:
        finish(Status::kLine, "\r\n");
        return result;
      case Key::kInterrupt:
      case Key::kSignal:
        finish(Status::kInterrupt, "^C\r\n");
        return result;
      case Key::kInputEnd:
        finish(Status::kEof, "\r\n");
        return result;
      case Key::kCtrlD:
        if (text_.empty()) {
          finish(Status::kEof, "\r\n");
          return result;
        }
        [[fallthrough]];
      case Key::kDelete:
        if (cursor_ < text_.size()) text_.erase(cursor_, next_boundary(cursor_) - cursor_);
        break;
      case Key::kBackspace:
        if (cursor_ > 0) {
          size_t p = prev_boundary(cursor_);
          text_.erase(p, cursor_ - p);
          cursor_ = p;
        }
        break;
      case Key::kLeft:
        cursor_ = prev_boundary(cursor_);
        break;
      case Key::kRight:
        cursor_ = next_boundary(cursor_);
        break;
      case Key::kWordLeft:
        cursor_ = word_left(cursor_);
        break;
      case Key::kWordRight:
        cursor_ = word_right(cursor_);
        break;
      case Key::kHome:
        cursor_ = 0;
        break;
      case Key::kEnd:
        cursor_ = text_.size();
        break;
      case Key::kKillEnd:
        text_.erase(cursor_);
        break;
      case Key::kKillStart:
        text_.erase(0, cursor_);
        cursor_ = 0;
        break;
      case Key::kKillWord: {
        size_t p = word_left(cursor_);
        text_.erase(p, cursor_ - p);
        cursor_ = p;
        break;
      }
      case Key::kUp:
        if (history_pos_ > 0) {
          if (history_pos_ == history_.size()) edited_ = text_;
          set_text(history_[--history_pos_]);
        }
        break;
      case Key::kDown:
        if (history_pos_ < history_.size()) {
          ++history_pos_;
          set_text(history_pos_ == history_.size() ? edited_ : history_[history_pos_]);
        }
        break;
      case Key::kClear:
        write_out("\033[H\033[2J");
        rows_above_ = 0;
        break;
      case Key::kSuspend:
        cursor_ = text_.size();
        refresh();
        write_out("\r\n");
        leave_raw();
        raise(SIGTSTP);  // stops here until `fg`
        enter_raw();
        rows_above_ = 0;
        break;
      case Key::kNone:
        break;
    }
    refresh();
  }
}

}  // namespace qwen3::cli
