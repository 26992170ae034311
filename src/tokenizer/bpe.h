// Byte-level BPE: the GPT-2 byte<->char mapping, the merge table and the merge loop, working on raw bytes and
// token ids. Merging follows HF tokenizers' Word::merge_all: repeatedly merge the adjacent pair of lowest
// rank, leftmost first. Short words use a linear scan, long ones a heap; bpe_test.cpp checks they always
// agree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::tok {

// GPT-2's bytes_to_unicode: the printable code point that stands for each byte in byte-level token strings.
uint32_t byte_to_char(uint8_t b);
// The inverse; returns -1 for a code point that stands for no byte.
int byte_from_char(uint32_t cp);
// The byte-level form of raw bytes (what the ByteLevel pre-tokenizer produces).
std::string bytes_to_token(std::string_view bytes);

// Open-addressing map from a pair of ids to (rank, merged id), the inner loop's only look-up.
class MergeMap {
 public:
  struct Entry {
    uint64_t key;
    int32_t rank, id;
  };
  void reserve(size_t n);
  void insert(int32_t a, int32_t b, int32_t rank, int32_t id);
  const Entry* find(int32_t a, int32_t b) const {
    uint64_t key = (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  size_t slot(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> shift_); }
  std::vector<Entry> slots_;
  size_t mask_ = 0, size_ = 0;
  int shift_ = 64;
};

struct Bpe {
  MergeMap merges;
  int32_t byte_ids[256];  // id of the single-byte token for each byte

  // Appends the ids of one pre-tokenized word (raw bytes, not empty) to out.
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
};

// The two merge loops, exposed for the equivalence test. `syms` holds the initial ids; the result replaces
// it.
void bpe_merge_linear(const MergeMap& merges, std::vector<int32_t>& syms);
void bpe_merge_heap(const MergeMap& merges, std::vector<int32_t>& syms);

}  // namespace qwen3::tok
