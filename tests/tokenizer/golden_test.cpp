// Goldens from the official HF tokenizers binding (tools/tokenizer/make_goldens.mjs): every encode case must
// give exactly the reference ids and round-trip where the reference does; every decode case the reference
// text, both in one call and streamed id by id.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace qwen3 {
namespace {

using json = nlohmann::json;

const Tokenizer& qwen3_tokenizer() {
  static const Tokenizer t = Tokenizer::load(test::tokenizer_dir());
  return t;
}

std::vector<json> read_jsonl(const std::string& name) {
  std::ifstream in(test::source_dir() + "/tests/data/tokenizer/" + name);
  EXPECT_TRUE(in) << "missing golden file " << name;
  std::vector<json> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

std::string show(const std::vector<int32_t>& v) {
  return json(v).dump();
}

TEST(Golden, EncodeMatchesReferenceExactly) {
  const Tokenizer& t = qwen3_tokenizer();
  auto cases = read_jsonl("encode.jsonl");
  ASSERT_GT(cases.size(), 5000u);
  size_t n_ok = 0, n_roundtrip = 0, n_long = 0;
  for (const json& c : cases) {
    std::string text = c["text"];
    auto want = c["ids"].get<std::vector<int32_t>>();
    auto got = t.encode(text);
    if (got == want)
      ++n_ok;
    else
      ADD_FAILURE() << "[" << c["cat"].get<std::string>() << "] " << json(text).dump() << "\n  want "
                    << show(want) << "\n  got  " << show(got);
    if (c["roundtrip"].get<bool>()) {
      ++n_roundtrip;
      EXPECT_EQ(t.decode(got), text) << json(text).dump();
    }
    n_long += text.size() >= 2000;
  }
  std::printf("encode goldens: %zu/%zu exact, %zu round-trip checked, %zu of >= 2000 bytes\n", n_ok,
              cases.size(), n_roundtrip, n_long);
  EXPECT_EQ(n_ok, cases.size());
}

TEST(Golden, DecodeMatchesReference) {
  const Tokenizer& t = qwen3_tokenizer();
  auto cases = read_jsonl("decode.jsonl");
  ASSERT_GT(cases.size(), 1000u);
  for (const json& c : cases) {
    auto ids = c["ids"].get<std::vector<int32_t>>();
    bool skip = c["skip"];
    std::string want = c["text"];
    EXPECT_EQ(t.decode(ids, skip), want) << show(ids) << " skip=" << skip;
    StreamDecoder sd(t, skip);
    std::string streamed;
    for (int32_t id : ids) {
      std::string piece = sd.push(id);
      // Every piece on its own is complete, valid UTF-8.
      std::string repaired;
      append_utf8_lossy(repaired, piece);
      EXPECT_EQ(repaired, piece) << show(ids);
      streamed += piece;
    }
    streamed += sd.flush();
    EXPECT_EQ(streamed, want) << show(ids) << " skip=" << skip;
  }
}

// The synthetic tokenizer.json of make_goldens.mjs: added tokens with lstrip, rstrip, single_word,
// normalized=true, ids that HF reassigns, added tokens that are not byte-level text (decoder fallback), and
// ignore_merges.
TEST(Golden, MiniTokenizerWithAddedTokenFlags) {
  Tokenizer t = Tokenizer::load(test::source_dir() + "/tests/data/tokenizer/mini");
  for (const json& c : read_jsonl("mini/encode.jsonl")) {
    std::string text = c["text"];
    auto want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(show(t.encode(text)), show(want)) << json(text).dump();
    if (c["roundtrip"].get<bool>()) {
      EXPECT_EQ(t.decode(want), text);
    }
  }
  Tokenizer ti = Tokenizer::load(test::source_dir() + "/tests/data/tokenizer/mini/ignore_merges");
  for (const json& c : read_jsonl("mini/ignore_merges/encode.jsonl")) {
    std::string text = c["text"];
    EXPECT_EQ(show(ti.encode(text)), show(c["ids"].get<std::vector<int32_t>>())) << "ignore_merges: " << text;
  }
  for (const json& c : read_jsonl("mini/decode.jsonl")) {
    auto ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(t.decode(ids, c["skip"].get<bool>()), c["text"].get<std::string>()) << show(ids);
  }
}

}  // namespace
}  // namespace qwen3
