#include "cli/chat_input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <clocale>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

namespace qwen3::cli {

namespace {

bool starts_with(const std::string& s, const char* p) {
  return s.rfind(p, 0) == 0;
}
bool ends_with(const std::string& s, const char* p) {
  size_t n = std::strlen(p);
  return s.size() >= n && s.compare(s.size() - n, n, p) == 0;
}

void write_fd(int fd, const std::string& s) {
  ssize_t ignored = ::write(fd, s.data(), s.size());
  (void)ignored;
}

}  // namespace

void setup_utf8_locale() {
  std::setlocale(LC_ALL, "");
  const char* ctype = std::setlocale(LC_CTYPE, nullptr);
  if (!ctype || !std::strcmp(ctype, "C") || !std::strcmp(ctype, "POSIX")) std::setlocale(LC_CTYPE, "C.UTF-8");
  std::setlocale(LC_NUMERIC, "C");
}

std::optional<std::string> MultilineAssembler::push(const std::string& line) {
  switch (mode_) {
    case Mode::kNone:
      if (starts_with(line, "\"\"\"")) {
        std::string rest = line.substr(3);
        if (rest.size() >= 3 && ends_with(rest, "\"\"\"")) return rest.substr(0, rest.size() - 3);
        mode_ = Mode::kBlock;
        if (!rest.empty()) block_.push_back(rest);
        return std::nullopt;
      }
      if (ends_with(line, "\\")) {
        mode_ = Mode::kContinued;
        text_ = line.substr(0, line.size() - 1) + "\n";
        return std::nullopt;
      }
      return line;
    case Mode::kBlock:
      if (ends_with(line, "\"\"\"")) {
        if (line.size() > 3) block_.push_back(line.substr(0, line.size() - 3));
        std::string message = join_block();
        cancel();
        return message;
      }
      block_.push_back(line);
      return std::nullopt;
    case Mode::kContinued:
      if (ends_with(line, "\\")) {
        text_ += line.substr(0, line.size() - 1) + "\n";
        return std::nullopt;
      }
      std::string message = text_ + line;
      cancel();
      return message;
  }
  return std::nullopt;
}

std::string MultilineAssembler::join_block() const {
  std::string out;
  for (size_t i = 0; i < block_.size(); ++i) out += (i ? "\n" : "") + block_[i];
  return out;
}

std::optional<std::string> MultilineAssembler::flush() {
  if (mode_ == Mode::kNone) return std::nullopt;
  std::string message = mode_ == Mode::kBlock ? join_block() : text_;
  cancel();
  return message;
}

std::string default_history_path() {
  const char* state = std::getenv("XDG_STATE_HOME");
  if (state && state[0] == '/') return std::string(state) + "/qwen3/history";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::string(home) + "/.local/state/qwen3/history";
  return "";
}

std::string escape_history_entry(const std::string& entry) {
  std::string out;
  for (char c : entry) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string unescape_history_entry(const std::string& line) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == '\\' || line[i + 1] == 'n')) {
      out += line[i + 1] == 'n' ? '\n' : '\\';
      ++i;
    } else {
      out += line[i];
    }
  }
  return out;
}

ChatInput::ChatInput(bool terminal, int out_fd, std::string history_file)
    : terminal_(terminal), out_fd_(out_fd), history_file_(terminal ? std::move(history_file) : "") {
  if (!terminal_) return;
  editor_ = std::make_unique<LineEditor>(STDIN_FILENO, out_fd_);
  if (history_file_.empty()) return;
  std::ifstream in(history_file_);
  std::vector<std::string> entries;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) entries.push_back(unescape_history_entry(line));
  size_t from = entries.size() > kHistoryMax ? entries.size() - kHistoryMax : 0;
  for (size_t i = from; i < entries.size(); ++i) editor_->add_history(entries[i]);
  if (entries.size() > 2 * kHistoryMax) {  // keep the file bounded: rewrite it with the entries in use
    std::string kept;
    for (const std::string& e : editor_->history()) kept += escape_history_entry(e) + "\n";
    int fd = ::open(history_file_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd >= 0) write_fd(fd, kept), ::close(fd);
  }
}

void ChatInput::remember(const std::string& message) {
  if (message.empty() || (!editor_->history().empty() && editor_->history().back() == message)) return;
  editor_->add_history(message);
  if (history_file_.empty()) return;
  // The directories are made private (0700) as shells keep their history; failures only lose history.
  std::string dir = history_file_.substr(0, history_file_.rfind('/'));
  for (size_t at = 1; at != std::string::npos && at <= dir.size();) {
    at = dir.find('/', at + 1);
    ::mkdir(dir.substr(0, at).c_str(), 0700);
  }
  // Created 0600, as shells create theirs: what a person types may be private.
  int fd = ::open(history_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  write_fd(fd, escape_history_entry(message) + "\n");
  ::close(fd);
}

std::optional<std::string> ChatInput::next() {
  if (!terminal_) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (auto message = lines_.push(line)) return message;
    }
    return lines_.flush();
  }
  std::optional<std::string> message = read_terminal();
  editor_->restore();
  return message;
}

std::optional<std::string> ChatInput::read_terminal() {
  for (;;) {
    LineEditor::Result r = editor_->read(lines_.pending() ? "... " : "> ");
    if (r.status == LineEditor::Status::kEof) return std::nullopt;
    if (r.status == LineEditor::Status::kInterrupt) {
      bool had_text = !r.text.empty() || lines_.pending();
      lines_.cancel();
      if (had_text) {
        warned_ = false;
        continue;
      }
      if (warned_) return std::nullopt;
      warned_ = true;
      write_fd(out_fd_, "(Ctrl-C again or Ctrl-D to quit)\r\n");  // the terminal is raw
      continue;
    }
    warned_ = false;
    // A paste is one message as it is: a """ or a backslash at its edges is the pasted text's own.
    if (r.pasted && !lines_.pending()) {
      remember(r.text);
      return r.text;
    }
    if (auto message = lines_.push(r.text)) {
      remember(*message);
      return message;
    }
  }
}

}  // namespace qwen3::cli
