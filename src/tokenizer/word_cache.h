// Per-thread cache of pre-tokenized piece -> token ids. Natural text repeats its words, so most pieces skip
// BPE. A look-up is bound by memory latency (the table is megabytes), so: 16-byte slots, each piece's key and
// ids side by side in one arena entry (two cache misses, not three), and a prefetch API so that the caller
// can start the slot loads of the next pieces while it handles this one. Bounded: cleared when half full
// (262k words, about 13 MB per encoding thread; at 131k words a 27-language benchmark text thrashed it and
// ran at half the speed).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace qwen3::tok {

class WordCache {
 public:
  static constexpr size_t kSlots = size_t(1) << 19;  // 8 MB of slots, at most kSlots / 2 words
  static constexpr size_t kMaxKey = 255;             // longer pieces are not cached

  WordCache() : slots_(kSlots) {}

  // Drops everything when the cache belongs to another tokenizer (or none yet).
  void bind(uint64_t owner) {
    if (owner_ != owner) clear(), owner_ = owner;
  }

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

  void prefetch(uint64_t h) const { __builtin_prefetch(&slots_[h & (kSlots - 1)]); }

  // Appends the cached ids for `word` (whose hash is h) to out and returns true, or returns false.
  bool get(std::string_view word, uint64_t h, std::vector<int32_t>& out) const {
    const uint32_t tag = uint32_t(h >> 32);
    for (size_t i = h & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
      const Slot& s = slots_[i];
      if (s.n_ids == 0) return false;
      if (s.tag != tag || s.key_len != word.size()) continue;
      const char* entry = arena_.data() + s.off;
      if (std::memcmp(entry, word.data(), word.size()) != 0) continue;
      const auto* ids = reinterpret_cast<const int32_t*>(entry + ids_offset(s.key_len));
      out.insert(out.end(), ids, ids + s.n_ids);
      return true;
    }
  }

  void put(std::string_view word, uint64_t h, const int32_t* ids, size_t n) {
    if (word.size() > kMaxKey || n == 0 || n > UINT16_MAX) return;
    if (2 * (n_words_ + 1) > kSlots || arena_.size() > UINT32_MAX / 2) clear();
    size_t i = h & (kSlots - 1);
    while (slots_[i].n_ids != 0) i = (i + 1) & (kSlots - 1);
    size_t off = arena_.size();
    arena_.resize(off + ids_offset(word.size()) + n * sizeof(int32_t));
    std::memcpy(arena_.data() + off, word.data(), word.size());
    std::memcpy(arena_.data() + off + ids_offset(word.size()), ids, n * sizeof(int32_t));
    slots_[i] = Slot{uint32_t(h >> 32), uint32_t(off), uint16_t(word.size()), uint16_t(n)};
    ++n_words_;
  }

 private:
  struct Slot {
    uint32_t tag;             // high half of the hash
    uint32_t off;             // arena entry: key bytes, padding to 4, ids
    uint16_t key_len, n_ids;  // n_ids == 0: empty slot
    uint32_t unused = 0;
  };
  static size_t ids_offset(size_t key_len) { return (key_len + 3) & ~size_t(3); }

  void clear() {
    std::fill(slots_.begin(), slots_.end(), Slot{});
    arena_.clear();
    n_words_ = 0;
  }

  std::vector<Slot> slots_;
  std::vector<char> arena_;  // entries start 4-byte aligned (vector data is 16-byte aligned)
  size_t n_words_ = 0;
  uint64_t owner_ = 0;
};

}  // namespace qwen3::tok
