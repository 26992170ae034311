// Byte-level BPE merges (see bpe.h).
#include "tokenizer/bpe.h"

#include <climits>
#include <queue>

#include "tokenizer/unicode.h"

namespace qwen3::tok {

namespace {
struct ByteMap {
  uint32_t to_char[256];
  int16_t from_char[324];  // every mapped code point is below 256 + 68
  ByteMap() {
    for (auto& v : from_char) v = -1;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      to_char[b] = printable ? uint32_t(b) : uint32_t(256 + n++);
      from_char[to_char[b]] = int16_t(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}
}  // namespace

uint32_t byte_to_char(uint8_t b) {
  return byte_map().to_char[b];
}

int byte_from_char(uint32_t cp) {
  return cp < 324 ? byte_map().from_char[cp] : -1;
}

std::string bytes_to_token(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) append_utf8(out, byte_to_char(b));
  return out;
}

void MergeMap::reserve(size_t n) {
  size_t cap = 16;
  shift_ = 60;
  while (cap * 3 < n * 5) cap <<= 1, --shift_;  // load factor at most 0.6: 4 MB for Qwen3's merges
  slots_.assign(cap, Entry{kEmpty, 0, 0});
  mask_ = cap - 1;
  size_ = 0;
}

void MergeMap::insert(int32_t a, int32_t b, int32_t rank, int32_t id) {
  if ((size_ + 1) * 5 > slots_.size() * 3) {  // grow: rehash into a table twice the size
    std::vector<Entry> old = std::move(slots_);
    reserve(old.size());
    for (const Entry& e : old)
      if (e.key != kEmpty) insert(int32_t(e.key >> 32), int32_t(uint32_t(e.key)), e.rank, e.id);
  }
  uint64_t key = (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
  size_t i = slot(key);
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
  if (slots_[i].key != key) ++size_;
  slots_[i] = Entry{key, rank, id};  // a duplicated merge: the later one wins, as in HF's HashMap collect
}

// O(n^2) but allocation-free and fast for the short words that make up almost all text.
void bpe_merge_linear(const MergeMap& merges, std::vector<int32_t>& syms) {
  size_t m = syms.size();
  if (m < 2) return;
  int32_t rank_buf[64], id_buf[64];
  std::vector<int32_t> rank_heap, id_heap;
  int32_t *rank = rank_buf, *nid = id_buf;
  if (m > 64) {
    rank_heap.resize(m), id_heap.resize(m);
    rank = rank_heap.data(), nid = id_heap.data();
  }
  int32_t* s = syms.data();
  auto look = [&](size_t k) {
    const MergeMap::Entry* e = merges.find(s[k], s[k + 1]);
    rank[k] = e ? e->rank : INT32_MAX;
    nid[k] = e ? e->id : -1;
  };
  for (size_t k = 0; k + 1 < m; ++k) look(k);
  for (;;) {
    size_t best = 0;
    for (size_t k = 1; k + 1 < m; ++k)
      if (rank[k] < rank[best]) best = k;
    if (rank[best] == INT32_MAX) break;
    s[best] = nid[best];
    for (size_t k = best + 1; k + 1 < m; ++k) s[k] = s[k + 1];
    for (size_t k = best + 1; k + 2 < m; ++k) rank[k] = rank[k + 1], nid[k] = nid[k + 1];
    --m;
    if (m < 2) break;
    if (best + 1 < m) look(best);
    if (best > 0) look(best - 1);
  }
  syms.resize(m);
}

// HF's algorithm for long words: a heap of candidate merges ordered by (rank, position), symbols in a linked
// list, stale heap entries skipped when popped.
void bpe_merge_heap(const MergeMap& merges, std::vector<int32_t>& syms) {
  const size_t n = syms.size();
  if (n < 2) return;
  struct Sym {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  struct Cand {
    int32_t rank, pos, id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Sym> sym(n);
  for (size_t i = 0; i < n; ++i) sym[i] = Sym{syms[i], int32_t(i) - 1, i + 1 < n ? int32_t(i + 1) : -1, true};
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  for (size_t i = 0; i + 1 < n; ++i)
    if (const auto* e = merges.find(sym[i].id, sym[i + 1].id)) heap.push(Cand{e->rank, int32_t(i), e->id});
  while (!heap.empty()) {
    Cand top = heap.top();
    heap.pop();
    Sym& left = sym[size_t(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Sym& right = sym[size_t(left.next)];
    const auto* e = merges.find(left.id, right.id);
    if (!e || e->id != top.id) continue;  // stale: one side was merged since this entry was pushed
    left.id = top.id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[size_t(right.next)].prev = top.pos;
    if (left.prev >= 0)
      if (const auto* p = merges.find(sym[size_t(left.prev)].id, left.id))
        heap.push(Cand{p->rank, left.prev, p->id});
    if (left.next >= 0)
      if (const auto* q = merges.find(left.id, sym[size_t(left.next)].id))
        heap.push(Cand{q->rank, top.pos, q->id});
  }
  syms.clear();
  for (const Sym& s : sym)
    if (s.alive) syms.push_back(s.id);
}

void Bpe::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  thread_local std::vector<int32_t> syms;
  syms.clear();
  for (unsigned char b : word) syms.push_back(byte_ids[b]);
  if (syms.size() <= 64)
    bpe_merge_linear(merges, syms);
  else
    bpe_merge_heap(merges, syms);
  out.insert(out.end(), syms.begin(), syms.end());
}

}  // namespace qwen3::tok
