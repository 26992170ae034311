// The two BPE merge loops (linear scan for short words, heap for long ones) must agree on every input, and
// the byte-level mapping must be GPT-2's.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "test_util.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::tok {
namespace {

TEST(Bpe, ByteMappingIsGpt2s) {
  EXPECT_EQ(byte_to_char(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(byte_to_char('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(byte_to_char('A'), uint32_t('A'));
  EXPECT_EQ(byte_to_char(0xAD), 0x143u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(byte_from_char(byte_to_char(uint8_t(b))), b);
  EXPECT_EQ(byte_from_char(0x20), -1);
  EXPECT_EQ(bytes_to_token(" hi\n"), "\xC4\xA0hi\xC4\x8A");
}

TEST(Bpe, LinearAndHeapMergesAgree) {
  // A small merge table over ids 0..5 with deliberately overlapping pairs and chains.
  MergeMap m;
  m.reserve(8);
  m.insert(0, 0, 0, 10);    // a a -> A
  m.insert(10, 0, 1, 11);   // A a -> B
  m.insert(1, 2, 2, 12);    // b c -> C
  m.insert(0, 1, 3, 13);    // a b -> D
  m.insert(13, 12, 4, 14);  // D C
  m.insert(10, 10, 5, 15);  // A A
  m.insert(2, 0, 6, 16);    // c a
  std::mt19937 rng(1);
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<int32_t> w(1 + rng() % 40);
    for (auto& v : w) v = int32_t(rng() % 4);
    std::vector<int32_t> a = w, b = w;
    bpe_merge_linear(m, a);
    bpe_merge_heap(m, b);
    ASSERT_EQ(a, b) << "iteration " << iter;
  }
}

TEST(Bpe, LinearAndHeapAgreeOnTheRealMerges) {
  // The real Qwen3 merge table, on words long enough for real chains of merges.
  auto j = nlohmann::json::parse(std::ifstream(test::tokenizer_dir() + "/tokenizer.json"));
  const auto& vocab = j["model"]["vocab"];
  MergeMap m;
  int32_t rank = 0;
  for (const auto& pair : j["model"]["merges"]) {
    std::string a = pair[0], b = pair[1];
    m.insert(vocab[a].get<int32_t>(), vocab[b].get<int32_t>(), rank++, vocab[a + b].get<int32_t>());
  }
  Tokenizer t = Tokenizer::load(test::tokenizer_dir());
  std::mt19937 rng(2);
  const std::vector<std::string> alphabets = {
      "abcdefghijklmnopqrstuvwxyzaeiouaeiou", "0123456789", "äöüßéèáà",
      "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年", "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"};
  for (int iter = 0; iter < 2000; ++iter) {
    const std::string& alpha = alphabets[size_t(iter) % alphabets.size()];
    std::vector<int32_t> a;
    for (size_t i = 0, n = 2 + rng() % 200; i < n; ++i) {
      unsigned char byte = static_cast<unsigned char>(alpha[rng() % alpha.size()]);
      a.push_back(vocab[bytes_to_token(std::string(1, char(byte)))].get<int32_t>());
    }
    std::vector<int32_t> b = a;
    bpe_merge_linear(m, a);
    bpe_merge_heap(m, b);
    ASSERT_EQ(a, b) << "iteration " << iter;
  }
}

}  // namespace
}  // namespace qwen3::tok
