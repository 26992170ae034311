// `qwen3 chat` at a terminal (a pseudo-terminal, TERM=xterm) as a person types: UTF-8 in many scripts echoed
// and sent intact and edited by grapheme cluster, a bracketed paste and a """ block each one turn, Ctrl-C at
// the prompt, slash commands (unknown ones not sent), history across sessions, the thinking labels; and
// through a pipe: /set, /regen, /save and /load, and a conversation that outgrows the context.
// What the model received is read back with /save (the conversation as JSON messages).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "engine/session.h"
#include "model/reference_data.h"
#include "pty.h"
#include "tokenizer/tokenizer.h"

namespace qwen3 {
namespace {

using test::Pty;

// Each answer is a few "Hello" tokens (logit bias), so turns take milliseconds.
std::vector<std::string> chat_argv(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {test::qwen3_binary(),
                                   "chat",
                                   "-m",
                                   test::synth_model("tiny-bf16"),
                                   "--seed",
                                   "1",
                                   "-t",
                                   "1",
                                   "--no-think",
                                   "-n",
                                   "3",
                                   "--logit-bias",
                                   "9707=1000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::vector<std::pair<std::string, std::string>> chat_env(const std::string& dir) {
  return {{"TERM", "xterm"}, {"XDG_STATE_HOME", dir + "/state"}};
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// Sends /save and returns the conversation it wrote; `at` moves past the confirmation.
nlohmann::json save(Pty& pty, const std::string& path, size_t& at) {
  pty.send("/save " + path + "\r");
  at = pty.wait_for("(saved", at, 30);
  EXPECT_NE(at, std::string::npos) << pty.tail();
  if (at == std::string::npos) return nlohmann::json::array();
  at = pty.wait_for("> ", at, 30);
  return nlohmann::json::parse(slurp(path));
}

// Sends a message and waits for the end of its answer and the next prompt. (Keys sent before the prompt
// shows reach a terminal still in its own mode, where Backspace and Ctrl-C mean other things.)
void turn(Pty& pty, const std::string& keys, size_t& at) {
  pty.send(keys);
  at = pty.wait_for("generated at", at, 60);
  ASSERT_NE(at, std::string::npos) << pty.tail();
  at = pty.wait_for("> ", at, 30);
  ASSERT_NE(at, std::string::npos) << pty.tail();
}

TEST(ChatTerminal, Utf8InManyScriptsIsEchoedAndSentIntact) {
  std::string dir = test::own_scratch_dir("chat_terminal");
  Pty pty(chat_argv(), chat_env(dir));
  size_t at = pty.wait_for("> ", 0, 60);
  ASSERT_NE(at, std::string::npos) << pty.output();
  // Latin with accents (precomposed and combining), CJK, Hangul, Arabic and Hebrew (right to left, with
  // harakat), Cyrillic, Devanagari, emoji with a skin tone and a ZWJ family.
  const std::string text =
      "héllo ça va ü 你好，世界 こんにちは 안녕하세요 مَرْحَبًا بالعالم שָׁלוֹם Привет नमस्ते 👍🏽 👨‍👩‍👧 "
      "e\xCC\x81 n\xCC\x83";
  turn(pty, text + "\r", at);
  EXPECT_NE(pty.output().find("> " + text), std::string::npos) << "echo: " << pty.output();

  // Editing moves and deletes whole grapheme clusters, in right-to-left text too.
  pty.send("x👍🏽\x7f");  // Backspace removes the thumb and its skin tone
  pty.send(
      " ae\xCC\x81"
      "b\x1b[D\x7f");  // ← then Backspace removes e + combining acute
  pty.send(
      "\x01"
      "مرحبا ");        // Ctrl-A, then Arabic before it all
  pty.send("\x1b[F!");  // End
  turn(pty, "\r", at);

  nlohmann::json conv = save(pty, dir + "/conv.json", at);
  ASSERT_EQ(conv.size(), 4u) << conv.dump();
  EXPECT_EQ(conv[0]["content"], text);
  EXPECT_EQ(conv[2]["content"], "مرحبا x ab!");
  pty.send("\x04");
  EXPECT_EQ(pty.wait_exit(20), 0) << pty.tail();
}

TEST(ChatTerminal, BracketedPasteIsOneTurn) {
  std::string dir = test::own_scratch_dir("chat_terminal");
  Pty pty(chat_argv(), chat_env(dir));
  size_t at = pty.wait_for("> ", 0, 60);
  ASSERT_NE(at, std::string::npos) << pty.output();
  EXPECT_NE(pty.output().find("\x1b[?2004h"), std::string::npos);  // bracketed paste switched on
  // Terminals send the pasted lines' ends as CR, which typed would be Enter.
  pty.send("\x1b[200~first line\r\nsecond line\rthird: 你好\x1b[201~");
  pty.send(" (pasted)");
  turn(pty, "\r", at);
  pty.drain(0.5);
  EXPECT_EQ(count(pty.output(), "generated at"), 1u) << pty.output();
  nlohmann::json conv = save(pty, dir + "/conv.json", at);
  ASSERT_EQ(conv.size(), 2u) << conv.dump();
  EXPECT_EQ(conv[0]["content"], "first line\nsecond line\nthird: 你好 (pasted)");
  // A paste is taken as it is: quotes and a backslash at its edges are its own, not multi-line syntax.
  turn(pty, "\x1b[200~\"\"\"docstring\rends in \\\x1b[201~\r", at);
  conv = save(pty, dir + "/conv.json", at);
  ASSERT_EQ(conv.size(), 4u) << conv.dump();
  EXPECT_EQ(conv[2]["content"], "\"\"\"docstring\nends in \\");
  pty.send("/exit\r");
  EXPECT_EQ(pty.wait_exit(20), 0) << pty.tail();
  EXPECT_NE(pty.output().rfind("\x1b[?2004l"), std::string::npos);  // and off again
}

TEST(ChatTerminal, TripleQuotesAndTrailingBackslashMakeOneTurnEach) {
  std::string dir = test::own_scratch_dir("chat_terminal");
  Pty pty(chat_argv(), chat_env(dir));
  size_t at = pty.wait_for("> ", 0, 60);
  ASSERT_NE(at, std::string::npos) << pty.output();
  pty.send("\"\"\"\r");
  at = pty.wait_for("... ", at, 30);
  ASSERT_NE(at, std::string::npos) << pty.tail();
  pty.send("block a\r");
  pty.send("  indented b\r");
  pty.send("\r");
  turn(pty, "last\"\"\"\r", at);
  pty.send("first\\\r");
  at = pty.wait_for("... ", at, 30);
  turn(pty, "second\r", at);
  pty.drain(0.5);
  EXPECT_EQ(count(pty.output(), "generated at"), 2u) << pty.output();
  nlohmann::json conv = save(pty, dir + "/conv.json", at);
  ASSERT_EQ(conv.size(), 4u) << conv.dump();
  EXPECT_EQ(conv[0]["content"], "block a\n  indented b\n\nlast");
  EXPECT_EQ(conv[2]["content"], "first\nsecond");
}

TEST(ChatTerminal, CtrlCClearsTheLineThenWarnsThenQuits) {
  std::string dir = test::own_scratch_dir("chat_terminal");
  {
    Pty pty(chat_argv(), chat_env(dir));
    size_t at = pty.wait_for("> ", 0, 60);
    ASSERT_NE(at, std::string::npos) << pty.output();
    pty.send("abc");
    pty.send("\x03");  // with text typed: the line is cleared, nothing is sent
    at = pty.wait_for("^C", at, 30);
    ASSERT_NE(at, std::string::npos) << pty.tail();
    turn(pty, "xyz\r", at);
    pty.send("\x03");  // on an empty line: a warning, the chat goes on
    at = pty.wait_for("(Ctrl-C again or Ctrl-D to quit)", at, 30);
    ASSERT_NE(at, std::string::npos) << pty.tail();
    pty.send("/stats\r");
    at = pty.wait_for("turns 1", at, 30);
    ASSERT_NE(at, std::string::npos) << pty.tail();
    nlohmann::json conv = save(pty, dir + "/conv.json", at);
    ASSERT_EQ(conv.size(), 2u) << conv.dump();
    EXPECT_EQ(conv[0]["content"], "xyz");
    pty.send("\x03");
    at = pty.wait_for("(Ctrl-C again or Ctrl-D to quit)", at, 30);
    ASSERT_NE(at, std::string::npos) << pty.tail();
    pty.send("\x03");  // the second one in a row quits
    EXPECT_EQ(pty.wait_exit(20), 0) << pty.tail();
  }
  {
    Pty pty(chat_argv(), chat_env(dir));
    size_t at = pty.wait_for("> ", 0, 60);
    pty.send("\x03");
    at = pty.wait_for("(Ctrl-C again or Ctrl-D to quit)", at, 30);
    ASSERT_NE(at, std::string::npos) << pty.tail();
    pty.send("\x04");  // or Ctrl-D
    EXPECT_EQ(pty.wait_exit(20), 0) << pty.tail();
  }
}

TEST(ChatTerminal, UnknownCommandsAreNotSent) {
  std::string dir = test::own_scratch_dir("chat_terminal");
  Pty pty(chat_argv(), chat_env(dir));
  size_t at = pty.wait_for("> ", 0, 60);
  ASSERT_NE(at, std::string::npos) << pty.output();
  pty.send("/sytem be brief\r");
  at = pty.wait_for("unknown command /sytem, see /help", at, 30);
  ASSERT_NE(at, std::string::npos) << pty.tail();
  pty.send("/clear\r");
  at = pty.wait_for("(conversation cleared)", at, 30);
  ASSERT_NE(at, std::string::npos) << pty.tail();
  pty.send("/?\r");
  at = pty.wait_for("/regen", at, 30);
  ASSERT_NE(at, std::string::npos) << pty.tail();
  turn(pty, "//etc/hosts is a file\r", at);  // "//": a message that starts with '/'
  EXPECT_EQ(count(pty.output(), "generated at"), 1u);
  nlohmann::json conv = save(pty, dir + "/conv.json", at);
  ASSERT_EQ(conv.size(), 2u) << conv.dump();
  EXPECT_EQ(conv[0]["content"], "/etc/hosts is a file");
  pty.send("/bye\r");
  EXPECT_EQ(pty.wait_exit(20), 0) << pty.tail();
}

TEST(ChatTerminal, HistoryIsKeptAcrossSessions) {
  std::string dir = test::own_scratch_dir("chat_terminal");
  {
    Pty pty(chat_argv(), chat_env(dir));
    size_t at = pty.wait_for("> ", 0, 60);
    ASSERT_NE(at, std::string::npos) << pty.output();
    turn(pty, "\x1b[200~two\nlines\x1b[201~\r", at);
    turn(pty, "second question\r", at);
    pty.send("/bye\r");
    EXPECT_EQ(pty.wait_exit(20), 0) << pty.tail();
  }
  EXPECT_EQ(slurp(dir + "/state/qwen3/history"), "two\\nlines\nsecond question\n/bye\n");
  struct stat st {};
  ASSERT_EQ(stat((dir + "/state/qwen3/history").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Pty pty(chat_argv(), chat_env(dir));
  size_t at = pty.wait_for("> ", 0, 60);
  turn(pty, "\x1b[A\x1b[A\x1b[A\x1b[B\x1b[A\r", at);  // ↑↑↑↓↑: back to the first entry
  nlohmann::json conv = save(pty, dir + "/conv.json", at);
  ASSERT_EQ(conv.size(), 2u) << conv.dump();
  EXPECT_EQ(conv[0]["content"], "two\nlines");
}

// Where TERM cannot be driven, lines are read in the terminal's own mode, UTF-8 intact.
TEST(ChatTerminal, PlainLinesOnADumbTerminal) {
  std::string dir = test::own_scratch_dir("chat_terminal");
  Pty pty(chat_argv(), {{"TERM", "dumb"}, {"XDG_STATE_HOME", dir + "/state"}});
  size_t at = pty.wait_for("> ", 0, 60);
  ASSERT_NE(at, std::string::npos) << pty.output();
  turn(pty, "你好 مرحبا e\xCC\x81\n", at);
  nlohmann::json conv = save(pty, dir + "/conv.json", at);
  ASSERT_EQ(conv.size(), 2u) << conv.dump();
  EXPECT_EQ(conv[0]["content"], "你好 مرحبا e\xCC\x81");
  pty.send("\x04");
  EXPECT_EQ(pty.wait_exit(20), 0) << pty.tail();
}

// Thinking is framed by "Thinking…" and "…done thinking"; the text a thinking budget forces counts toward
// -n like any generated token. The model is made to open a think block at once (logit bias on <think>) and
// a budget of 0 closes it with Qwen's sentence.
TEST(ChatTerminal, ThinkingIsLabelledAndTheBudgetTextCountsTowardN) {
  Tokenizer tok = Tokenizer::load(test::synth_model("tiny-bf16"));
  const int n_forced = static_cast<int>(tok.encode(kThinkingBudgetText).size());
  std::string dir = test::own_scratch_dir("chat_terminal");
  for (int n : {1 + n_forced, 6}) {
    std::vector<std::string> argv = {test::qwen3_binary(),
                                     "chat",
                                     "-m",
                                     test::synth_model("tiny-bf16"),
                                     "--seed",
                                     "1",
                                     "-t",
                                     "1",
                                     "--think",
                                     "--logit-bias",
                                     "151667=1000",
                                     "--thinking-budget",
                                     "0",
                                     "-n",
                                     std::to_string(n)};
    Pty pty(argv, chat_env(dir));
    size_t at = pty.wait_for("> ", 0, 60);
    ASSERT_NE(at, std::string::npos) << pty.output();
    turn(pty, "hi\r", at);
    std::string out = pty.output();
    size_t label = out.find("Thinking…\r\n"), reasoning = out.find("Considering the limited time");
    EXPECT_NE(label, std::string::npos) << out;
    EXPECT_NE(out.find(std::to_string(n) + " generated at"), std::string::npos) << n << ": " << pty.tail();
    if (n == 6) {  // cut inside the think block: no end marker
      EXPECT_EQ(out.find("done thinking"), std::string::npos) << out;
      continue;
    }
    EXPECT_LT(label, reasoning) << out;
    EXPECT_LT(reasoning, out.find("…done thinking")) << out;
  }
}

TEST(ChatCli, SetRegenSaveAndLoadThroughAPipe) {
  std::string dir = test::own_scratch_dir("chat_cli");
  auto r = test::run_command(
      test::qwen3_binary() + " chat -m " + test::synth_model("tiny-bf16") +
          " --seed 3 -n 3 --logit-bias 9707=1000 --no-think",
      "/set temperature 0.3\n/set top_p 2\n/set top_k x\n/set nonsense 1\n/set seed 7\n/set\nhi\n/regen\n"
      "/save " +
          dir + "/a.json\n/reset\n/load " + dir + "/a.json\n/save " + dir + "/b.json\n/load " + dir +
          "/missing.json\nthere\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "HelloHelloHello\nHelloHelloHello\nHelloHelloHello\n");  // hi, /regen, there
  EXPECT_NE(r.err.find("(temperature set to 0.3)"), std::string::npos) << r.err;
  size_t bad_top_p = r.err.find("(unchanged))");  // check_sampling_params' own words, then (unchanged)
  ASSERT_NE(bad_top_p, std::string::npos) << r.err;
  std::string line = r.err.substr(0, bad_top_p);
  line = line.substr(line.rfind('\n') + 1);
  EXPECT_NE(line.find("top_p"), std::string::npos) << line;
  EXPECT_NE(line.find("(0, 1]"), std::string::npos) << line;
  EXPECT_NE(r.err.find("(top_k x: choose an integer >= 0 (0: off) (unchanged))"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(unknown parameter nonsense, see /help)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("thinking:     temperature 0.3, top_k 20, top_p 0.95"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("seed 7, max_tokens 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(saved 2 messages to " + dir + "/a.json)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(loaded 2 messages from " + dir + "/a.json)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("error: " + dir + "/missing.json: cannot read the file"), std::string::npos) << r.err;
  auto a = nlohmann::json::parse(slurp(dir + "/a.json"));
  EXPECT_EQ(a, nlohmann::json::parse(R"([{"role": "user", "content": "hi"},
                                         {"role": "assistant", "content": "HelloHelloHello"}])"));
  EXPECT_EQ(slurp(dir + "/b.json"), slurp(dir + "/a.json"));

  test::write_file(dir + "/bad.json",
                   R"([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}])");
  r = test::run_command(test::qwen3_binary() + " chat -m " + test::synth_model("tiny-bf16") + " -n 1",
                        "/load " + dir + "/bad.json\n/regen\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(
      r.err.find("bad.json: message 2: role \"system\" (choose user, assistant, tool, or system first)"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("(nothing to regenerate)"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

// A conversation longer than the window: the oldest turns are dropped (the system prompt stays) and the chat
// says so; every message is answered.
TEST(ChatCli, ContextFullDropsTheOldestTurns) {
  std::string dir = test::own_scratch_dir("chat_cli");
  auto r = test::run_command(test::qwen3_binary() + " chat -m " + test::synth_model("tiny-bf16") +
                                 " --ctx 160 -n 30 --logit-bias 9707=1000 --no-think --system 'Be brief.'",
                             "q1\nq2\nq3\nq4\nq5\nq6\n/save " + dir + "/c.json\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, "\n"), 6u) << r.out;
  EXPECT_NE(r.err.find("(context full: dropped the oldest"), std::string::npos) << r.err;
  auto c = nlohmann::json::parse(slurp(dir + "/c.json"));
  ASSERT_GE(c.size(), 3u);
  EXPECT_EQ(c[0], nlohmann::json::parse(R"({"role": "system", "content": "Be brief."})"));
  EXPECT_EQ(c[1]["role"], "user");
  EXPECT_NE(c[1]["content"], "q1");
  EXPECT_EQ(c[c.size() - 2]["content"], "q6");
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace qwen3
