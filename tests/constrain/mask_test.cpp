// Token masks are exact: a bit is set iff the token keeps the output a valid prefix. Checked against an
// independent oracle (the grammar's whole language, written out by hand, on a small vocabulary that has
// tokens spanning terminals, partial UTF-8 and special tokens) and, on the real Qwen3 vocabulary, against
// stepping every token on its own (the mask's trie walk and body sets against plain byte stepping).
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <thread>

#include "constrain/constrain.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::constrain {
namespace {

bool bit(const std::vector<uint32_t>& m, int32_t id) {
  return (m[size_t(id) >> 5] >> (id & 31)) & 1;
}

// Every string of length 1..3 over a small alphabet, plus multi-byte and partial UTF-8 tokens; id 0 is EOS,
// 1 and 2 are special tokens.
struct SmallVocab {
  std::vector<std::string> bytes;
  std::shared_ptr<const Vocabulary> v;
  SmallVocab() {
    bytes = {"", "", ""};
    std::string alpha = "ab\"{}:,1 é";
    std::vector<std::string> units = {"a", "b", "\"", "{",        "}",    ":",
                                      ",", "1", " ",  "\xC3\xA9", "\xC3", "\xA9"};
    for (auto& x : units) bytes.push_back(x);
    for (auto& x : units)
      for (auto& y : units) bytes.push_back(x + y);
    for (auto& x : units)
      for (auto& y : units)
        for (auto& z : {std::string("a"), std::string("\""), std::string("}")}) bytes.push_back(x + y + z);
    std::vector<int32_t> eos = {0};
    v = make_vocabulary(bytes, {0, 1, 2}, eos);
  }
};

// Compares fill_mask with the oracle along random walks through the language.
void check_against_language(const std::shared_ptr<const Grammar>& g, const SmallVocab& sv,
                            const std::set<std::string>& language, int n_walks, uint32_t seed,
                            int32_t special = -1, const std::string& special_text = "") {
  std::mt19937 rng(seed);
  const size_t n_words = (sv.bytes.size() + 31) / 32;
  for (int w = 0; w < n_walks; w++) {
    Matcher m(g);
    std::string prefix;  // special tokens written as special_text
    for (int step = 0; step < 20; step++) {
      std::vector<uint32_t> mask(n_words);
      m.fill_mask(mask);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < int32_t(sv.bytes.size()); id++) {
        bool expect;
        if (id == 0) {
          expect = language.count(prefix) > 0;
        } else if (id == 1 || id == 2) {
          expect = false;
          if (id == special)
            for (auto& s : language)
              expect |= s.compare(0, prefix.size() + special_text.size(), prefix + special_text) == 0;
        } else {
          std::string p = prefix + sv.bytes[size_t(id)];
          expect = false;
          for (auto& s : language) expect |= s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
        }
        ASSERT_EQ(bit(mask, id), expect)
            << "prefix '" << prefix << "' token " << id << " '" << sv.bytes[size_t(id)] << "'";
        if (expect) allowed.push_back(id);
      }
      ASSERT_EQ(m.can_end(), language.count(prefix) > 0) << prefix;
      if (allowed.empty()) break;
      int32_t id = allowed[rng() % allowed.size()];
      if (id == 0) {
        EXPECT_TRUE(m.advance(0));
        EXPECT_TRUE(m.is_done());
        break;
      }
      ASSERT_TRUE(m.advance(id));
      prefix += id == special ? special_text : sv.bytes[size_t(id)];
    }
  }
}

TEST(ConstrainMask, JsonEnumMatchesItsLanguage) {
  SmallVocab sv;
  Builder b(sv.v);
  auto schema = nlohmann::ordered_json::parse(R"({"enum": ["a", "ab\u00e9", "b\"", 1, {"a": 1}]})");
  auto g = b.build(b.json_schema(schema));
  std::set<std::string> lang = {"\"a\"",     "\"ab\xC3\xA9\"", "\"b\\\"\"",   "1",           "1.0",
                                "{\"a\":1}", "{\"a\": 1}",     "{\"a\":1.0}", "{\"a\": 1.0}"};
  check_against_language(g, sv, lang, 60, 1);
}

TEST(ConstrainMask, RegexAndGbnfMatchTheirLanguage) {
  SmallVocab sv;
  {
    Builder b(sv.v);
    auto g = b.build(b.regex("(ab|ba){1,2}(1|\xC3\xA9)?"));
    std::set<std::string> lang;
    for (std::string x : {"ab", "ba"}) {
      for (std::string y : {"", "ab", "ba"})
        for (std::string z : {"", "1", "\xC3\xA9"}) lang.insert(x + y + z);
    }
    check_against_language(g, sv, lang, 60, 2);
  }
  {
    Builder b(sv.v);
    auto g = b.build(b.gbnf("root ::= item (\",\" \" \"? item)?\nitem ::= \"{\" [ab] \"}\" | \"1\""));
    std::set<std::string> lang;
    std::vector<std::string> items = {"{a}", "{b}", "1"};
    for (auto& x : items) {
      lang.insert(x);
      for (auto& y : items) lang.insert(x + "," + y), lang.insert(x + ", " + y);
    }
    check_against_language(g, sv, lang, 60, 3);
  }
}

TEST(ConstrainMask, SpecialTokensOnlyWhereTheGrammarHasThem) {
  SmallVocab sv;
  Builder b(sv.v);
  auto g = b.build(b.seq({b.literal("a"), b.token(1), b.literal("b")}));
  check_against_language(g, sv, {"a<1>b"}, 10, 4, 1, "<1>");
}

TEST(ConstrainMask, PartialUtf8TokensInAString) {
  SmallVocab sv;
  Builder b(sv.v);
  auto g = b.build(b.json_schema(nlohmann::ordered_json::parse(R"({"type": "string", "maxLength": 2})")));
  auto id_of = [&](const std::string& s) {
    for (size_t i = 3; i < sv.bytes.size(); i++)
      if (sv.bytes[i] == s) return int32_t(i);
    return int32_t(-1);
  };
  Matcher m(g);
  std::vector<uint32_t> mask((sv.bytes.size() + 31) / 32);
  ASSERT_TRUE(m.advance(id_of("\"")));
  m.fill_mask(mask);
  EXPECT_TRUE(bit(mask, id_of("\xC3")));   // a lead byte: a character may follow
  EXPECT_FALSE(bit(mask, id_of("\xA9")));  // a lone continuation byte: never
  EXPECT_TRUE(bit(mask, id_of("a\xC3")));
  ASSERT_TRUE(m.advance(id_of("a\xC3")));
  m.fill_mask(mask);
  EXPECT_TRUE(bit(mask, id_of("\xA9")));
  EXPECT_TRUE(bit(mask, id_of("\xA9\"")));
  EXPECT_FALSE(bit(mask, id_of("\xA9"
                               "a")));  // a third character is over maxLength
  EXPECT_FALSE(bit(mask, id_of("a")));  // the character is incomplete
}

// The real vocabulary: the mask equals stepping each token alone, at every position of a few texts.
TEST(ConstrainMask, RealVocabularyMaskEqualsStepping) {
  Tokenizer tok = Tokenizer::load(test::tokenizer_dir());
  std::vector<int32_t> eos = {*tok.token_to_id("<|im_end|>")};
  auto vocab = make_vocabulary(tok, eos);
  struct Case {
    const char* schema;
    const char* text;
  } cases[] = {
      {R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},"n":{"type":"integer","minimum":-5,"maximum":300},"tags":{"type":"array","items":{"type":"string","pattern":"^[a-z]+$"}}},"required":["name"]})",
       R"({"name": "café ok", "n": 42, "tags": ["ab", "c"]})"},
      {R"({"type":"object","additionalProperties":{"type":"number"}})", R"({"x-1": 1.5e3, "né": -0.25})"},
      {R"({"type":"string","format":"date-time"})", R"("2024-02-29T12:30:00.5+01:00")"},
      // An unanchored pattern: its states share the trie walk of every byte leading back to its start, kept
      // once and reused (Grammar::walk_root).
      {R"({"type":"string","pattern":"[a-f0-9]{6}-[a-f0-9]{4}"})", R"("Zé 12ab 3f0a9c-09af tail, ab")"},
  };
  const int32_t n = tok.vocab_size();
  std::vector<uint32_t> mask((size_t(n) + 31) / 32);
  for (auto& c : cases) {
    Builder b(vocab);
    auto g = b.build(b.json_schema(nlohmann::ordered_json::parse(c.schema)));
    std::vector<int32_t> ids = tok.encode(c.text);
    for (size_t pos = 0; pos <= ids.size(); pos += (pos < 6 ? 1 : 4)) {
      Matcher m(g);
      for (size_t i = 0; i < pos; i++) ASSERT_TRUE(m.advance(ids[i])) << c.text << " at " << i;
      m.fill_mask(mask);
      std::string prefix;
      for (size_t i = 0; i < pos; i++) prefix += tok.token_bytes(ids[i]);
      int n_allowed = 0;
      for (int32_t id = 0; id < n; id++) {
        bool expect;
        if (id == eos[0]) {
          expect = m.can_end();
        } else if (tok.is_special(id) || tok.is_added(id)) {
          expect = false;  // symbols, never text
        } else {
          Matcher probe(g);
          expect = probe.advance_bytes(prefix) && probe.advance_bytes(tok.token_bytes(id));
        }
        n_allowed += expect;
        ASSERT_EQ(bit(mask, id), expect)
            << c.schema << "\nprefix '" << prefix << "' token " << id << " '" << tok.token_bytes(id) << "'";
      }
      EXPECT_GT(n_allowed, 0);
    }
    if (HasFatalFailure()) return;
  }
}

TEST(ConstrainMask, ByteSteppingFollowsTheGrammar) {
  SmallVocab sv;
  Builder b(sv.v);
  auto g = b.build(b.json_schema(nlohmann::ordered_json::parse(
      R"({"type":"object","properties":{"a":{"type":"integer","minimum":10,"maximum":12}},"required":["a"],"additionalProperties":false})")));
  for (auto [text, ok] : std::vector<std::pair<std::string, bool>>{{"{\"a\":10}", true},
                                                                   {"{\"a\": 12}", true},
                                                                   {"{\"a\":9}", false},
                                                                   {"{\"a\":13}", false},
                                                                   {"{\"a\":010}", false},
                                                                   {"{}", false},
                                                                   {"{\"a\":11,\"b\":1}", false}}) {
    Matcher m(g);
    EXPECT_EQ(m.advance_bytes(text) && m.can_end(), ok) << text;
  }
}

}  // namespace
}  // namespace qwen3::constrain

namespace qwen3::constrain {
namespace {

// Matchers of one grammar on several threads (the scheduler's case): each sees the masks a lone matcher sees.
TEST(ConstrainMask, MatchersOfOneGrammarOnSeveralThreads) {
  std::vector<std::string> b(300);
  for (int i = 0; i < 256; i++) b[size_t(i)] = std::string(1, char(i));
  for (int i = 256; i < 300; i++) b[size_t(i)] = "ab" + std::string(size_t(i - 255), 'c');
  std::vector<int32_t> eos = {0};
  auto v = make_vocabulary(b, {0}, eos);
  Builder bld(v);
  auto g = bld.build(bld.json_schema(nlohmann::ordered_json::parse(
      R"({"type":"array","items":{"type":"object","properties":{"k":{"type":"string","maxLength":5}}}})")));
  const std::string text = R"([{"k": "abccc"}, {}, {"k": "x"}, {"z": [1, {"q": null}]}])";
  auto run = [&](std::vector<std::vector<uint32_t>>& out) {
    Matcher m(g);
    for (char c : text) {
      std::vector<uint32_t> mask(10);
      m.fill_mask(mask);
      out.push_back(mask);
      if (!m.advance(uint8_t(c))) return;
    }
  };
  std::vector<std::vector<uint32_t>> alone;
  {
    Builder fresh(v);
    auto g2 = fresh.build(fresh.json_schema(nlohmann::ordered_json::parse(
        R"({"type":"array","items":{"type":"object","properties":{"k":{"type":"string","maxLength":5}}}})")));
    Matcher m(g2);
    for (char c : text) {
      std::vector<uint32_t> mask(10);
      m.fill_mask(mask);
      alone.push_back(mask);
      ASSERT_TRUE(m.advance(uint8_t(c))) << c;
    }
  }
  std::vector<std::vector<std::vector<uint32_t>>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; rep++) {
        got[size_t(t)].clear();
        run(got[size_t(t)]);
      }
    });
  for (auto& t : threads) t.join();
  for (auto& x : got) EXPECT_EQ(x, alone);
}

}  // namespace
}  // namespace qwen3::constrain
