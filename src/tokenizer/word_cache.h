// Per-thread cache of pre-tokenized piece -> token ids. Natural text repeats its words, so most pieces skip BPE.
// Open addressing over a flat slot array with the key bytes and ids in two arenas: a std::unordered_map of
// strings spent a quarter of encode time hashing and chasing nodes. Bounded: cleared when half full.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace qwen3::tok {

class WordCache {
 public:
  static constexpr size_t kSlots = size_t(1) << 18;  // at most kSlots / 2 words
  static constexpr size_t kMaxKey = 255;             // longer pieces are not cached

  WordCache() : slots_(kSlots) {}

  // Drops everything when the cache belongs to another tokenizer (or none yet).
  void bind(uint64_t owner) {
    if (owner_ != owner) clear(), owner_ = owner;
  }

  // Appends the cached ids for `word` to out and returns true, or returns false.
  bool get(std::string_view word, std::vector<int32_t>& out) const {
    uint64_t h = hash(word);
    for (size_t i = h & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
      const Slot& s = slots_[i];
      if (s.n_ids == 0) return false;
      if (s.hash == h && s.key_len == word.size() && std::memcmp(keys_.data() + s.key_off, word.data(), word.size()) == 0) {
        out.insert(out.end(), ids_.begin() + s.ids_off, ids_.begin() + s.ids_off + s.n_ids);
        return true;
      }
    }
  }

  void put(std::string_view word, const int32_t* ids, size_t n) {
    if (word.size() > kMaxKey || n == 0 || n > UINT16_MAX) return;
    if (2 * (n_words_ + 1) > kSlots) clear();
    uint64_t h = hash(word);
    size_t i = h & (kSlots - 1);
    while (slots_[i].n_ids != 0) i = (i + 1) & (kSlots - 1);
    slots_[i] = Slot{h, uint32_t(keys_.size()), uint32_t(ids_.size()), uint16_t(word.size()), uint16_t(n)};
    keys_.insert(keys_.end(), word.begin(), word.end());
    ids_.insert(ids_.end(), ids, ids + n);
    ++n_words_;
  }

 private:
  struct Slot {
    uint64_t hash;
    uint32_t key_off, ids_off;
    uint16_t key_len, n_ids;  // n_ids == 0: empty slot
  };

  static uint64_t hash(std::string_view s) {  // multiply-xorshift over 8-byte words; keys are short
    uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
    }
    if (i < s.size()) {
      uint64_t w = 0;
      std::memcpy(&w, s.data() + i, s.size() - i);
      h = (h ^ w) * 0x94D049BB133111EBull;
    }
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
  }

  void clear() {
    std::fill(slots_.begin(), slots_.end(), Slot{});
    keys_.clear();
    ids_.clear();
    n_words_ = 0;
  }

  std::vector<Slot> slots_;
  std::vector<char> keys_;
  std::vector<int32_t> ids_;
  size_t n_words_ = 0;
  uint64_t owner_ = 0;
};

}  // namespace qwen3::tok
