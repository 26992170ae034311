// The vocabulary as the matcher sees it: every id's bytes and the token trie the mask walk runs over.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#include "constrain/engine.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::constrain {

std::shared_ptr<const Vocabulary> make_vocabulary(std::vector<std::string> token_bytes,
                                                  std::vector<int32_t> special_ids,
                                                  std::span<const int32_t> eos_ids) {
  auto v = std::make_shared<Vocabulary>();
  v->n_vocab = int32_t(token_bytes.size());
  v->bytes = std::move(token_bytes);
  v->special.assign(v->bytes.size(), 0);
  for (int32_t id : special_ids) {
    if (id < 0 || id >= v->n_vocab) continue;
    v->special[size_t(id)] = 1;
    v->bytes[size_t(id)].clear();
    v->special_ids.push_back(id);
  }
  v->eos_ids.assign(eos_ids.begin(), eos_ids.end());

  std::vector<int32_t> order;
  for (int32_t id = 0; id < v->n_vocab; id++)
    if (!v->bytes[size_t(id)].empty()) order.push_back(id);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return v->bytes[size_t(a)] != v->bytes[size_t(b)] ? v->bytes[size_t(a)] < v->bytes[size_t(b)] : a < b;
  });
  // Pre-order trie: the path of open nodes is `path` (node index per depth); a token shares its longest
  // common prefix with the previous one (sorted order), the nodes below that prefix close.
  std::vector<int32_t> path;
  std::string prev;
  std::vector<std::vector<int32_t>> node_toks;
  for (int32_t id : order) {
    const std::string& b = v->bytes[size_t(id)];
    size_t lcp = 0;
    while (lcp < prev.size() && lcp < b.size() && prev[lcp] == b[lcp]) lcp++;
    while (path.size() > lcp) {
      v->node_end[size_t(path.back())] = int32_t(v->node_byte.size());
      path.pop_back();
    }
    for (size_t k = lcp; k < b.size(); k++) {
      path.push_back(int32_t(v->node_byte.size()));
      v->node_byte.push_back(uint8_t(b[k]));
      v->node_depth.push_back(uint16_t(k + 1));
      v->node_end.push_back(0);
      node_toks.emplace_back();
    }
    node_toks[size_t(path.back())].push_back(id);
    v->max_depth = std::max(v->max_depth, int(b.size()));
    prev = b;
  }
  while (!path.empty()) {
    v->node_end[size_t(path.back())] = int32_t(v->node_byte.size());
    path.pop_back();
  }
  v->root_child.fill(-1);
  for (size_t i = 0; i < v->node_byte.size(); i++)
    if (v->node_depth[i] == 1) v->root_child[v->node_byte[i]] = int32_t(i);
  v->tok_off.push_back(0);
  for (auto& t : node_toks) {
    v->tok_ids.insert(v->tok_ids.end(), t.begin(), t.end());
    v->tok_off.push_back(int32_t(v->tok_ids.size()));
  }
  return v;
}

int utf8_step(int u, uint8_t b) {
  auto in = [&](int lo, int hi) { return b >= lo && b <= hi; };
  switch (u) {
    case 0:
      if (b < 0x80) return 0;
      if (in(0xC2, 0xDF)) return 1;
      if (b == 0xE0) return 3;
      if (b == 0xED) return 4;
      if (in(0xE1, 0xEF)) return 2;
      if (b == 0xF0) return 5;
      if (in(0xF1, 0xF3)) return 6;
      if (b == 0xF4) return 7;
      return -1;
    case 1:
      return in(0x80, 0xBF) ? 0 : -1;
    case 2:
      return in(0x80, 0xBF) ? 1 : -1;
    case 3:
      return in(0xA0, 0xBF) ? 1 : -1;
    case 4:
      return in(0x80, 0x9F) ? 1 : -1;
    case 5:
      return in(0x90, 0xBF) ? 2 : -1;
    case 6:
      return in(0x80, 0xBF) ? 2 : -1;
    case 7:
      return in(0x80, 0x8F) ? 2 : -1;
  }
  return -1;
}

namespace {
void debug_set(const char* what, const ByteSet& loop, bool utf8, std::chrono::steady_clock::time_point t0) {
  static const bool debug = getenv("QWEN3_CONSTRAIN_DEBUG") != nullptr;
  if (!debug) return;
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  fprintf(stderr, "%s set %016llx%016llx utf8=%d: %.0f us\n", what, (unsigned long long)loop.w[1],
          (unsigned long long)loop.w[0], int(utf8), us);
}
}  // namespace

std::shared_ptr<const Vocabulary::BodySet> Vocabulary::body_set(const ByteSet& loop, bool utf8) const {
  std::lock_guard<std::mutex> lock(body_mu);
  auto key = std::make_pair(loop, utf8);
  auto it = body_sets.find(key);
  if (it != body_sets.end()) return it->second;
  auto t0 = std::chrono::steady_clock::now();
  auto b = std::make_shared<BodySet>();
  const size_t n_words = (size_t(n_vocab) + 31) / 32;
  b->cum.assign(kCumMax + 1, std::vector<uint32_t>(n_words, 0u));
  b->all.assign(n_words, 0u);
  std::vector<int> u(size_t(max_depth) + 1, 0);        // UTF-8 state after the path to each depth
  std::vector<int32_t> cnt(size_t(max_depth) + 1, 0);  // characters on the path (an incomplete one counts)
  const int32_t n = int32_t(node_byte.size());
  for (int32_t i = 0; i < n;) {
    int d = node_depth[size_t(i)];
    int pu = u[size_t(d - 1)];
    int32_t pc = cnt[size_t(d - 1)];
    uint8_t c = node_byte[size_t(i)];
    int nu;
    if (pu == 0 && c < 0x80) {
      if (!loop.test(c)) {
        b->escapes.emplace_back(i, pc);
        b->max_count = std::max(b->max_count, pc);
        i = node_end[size_t(i)];
        continue;
      }
      nu = 0;
    } else {
      nu = utf8 ? utf8_step(pu, c) : -1;
      if (nu < 0) {  // dead from a body state
        i = node_end[size_t(i)];
        continue;
      }
    }
    int32_t nc = pu == 0 ? pc + 1 : pc;
    u[size_t(d)] = nu;
    cnt[size_t(d)] = nc;
    for (int32_t k = tok_off[size_t(i)]; k < tok_off[size_t(i) + 1]; k++) {
      int32_t id = tok_ids[size_t(k)];
      uint32_t bit = 1u << (id & 31);
      b->all[size_t(id) >> 5] |= bit;
      if (nc <= kCumMax) {
        b->cum[size_t(nc)][size_t(id) >> 5] |= bit;  // made cumulative below
      } else {
        b->longer.emplace_back(nc, id);
      }
      b->max_count = std::max(b->max_count, nc);
    }
    i++;
  }
  for (int m = 1; m <= kCumMax; m++)
    for (size_t w = 0; w < n_words; w++) b->cum[size_t(m)][w] |= b->cum[size_t(m - 1)][w];
  std::sort(b->longer.begin(), b->longer.end());
  body_sets[key] = b;
  debug_set("body", loop, utf8, t0);
  return b;
}

std::shared_ptr<const Vocabulary::RestSet> Vocabulary::rest_set(const ByteSet& loop, bool utf8) const {
  std::lock_guard<std::mutex> lock(body_mu);
  auto key = std::make_pair(loop, utf8);
  auto it = rest_sets.find(key);
  if (it != rest_sets.end()) return it->second;
  auto t0 = std::chrono::steady_clock::now();
  auto r = std::make_shared<RestSet>();
  const size_t n_words = (size_t(n_vocab) + 31) / 32;
  r->all.assign(n_words, 0u);
  r->by_first.assign(129, {});  // 128: a non-ASCII first character
  std::vector<int> u(size_t(max_depth) + 1, 0);
  std::vector<uint8_t> in_rest(size_t(max_depth) + 1, 0);  // the first character is complete
  const int32_t n = int32_t(node_byte.size());
  uint8_t first = 0;
  for (int32_t i = 0; i < n;) {
    int d = node_depth[size_t(i)];
    uint8_t c = node_byte[size_t(i)];
    int pu = d == 1 ? 0 : u[size_t(d - 1)];
    int nu;
    if (d == 1 || !in_rest[size_t(d - 1)]) {  // still in the first character
      nu = utf8_step(pu, c);
      if (nu < 0 || (!utf8 && c >= 0x80)) {
        i = node_end[size_t(i)];
        continue;
      }
      if (d == 1) first = c < 0x80 ? c : 128;
      in_rest[size_t(d)] = nu == 0;
    } else if (pu == 0 && c < 0x80) {
      if (!loop.test(c)) {
        r->escapes.emplace_back(i, first);
        i = node_end[size_t(i)];
        continue;
      }
      nu = 0;
      in_rest[size_t(d)] = 1;
    } else {
      nu = utf8 ? utf8_step(pu, c) : -1;
      if (nu < 0) {
        i = node_end[size_t(i)];
        continue;
      }
      in_rest[size_t(d)] = 1;
    }
    u[size_t(d)] = nu;
    for (int32_t k = tok_off[size_t(i)]; k < tok_off[size_t(i) + 1]; k++) {
      int32_t id = tok_ids[size_t(k)];
      r->all[size_t(id) >> 5] |= 1u << (id & 31);
      r->by_first[first].push_back(id);
    }
    i++;
  }
  rest_sets[key] = r;
  debug_set("rest", loop, utf8, t0);
  return r;
}

std::shared_ptr<const Vocabulary> make_vocabulary(const Tokenizer& tokenizer,
                                                  std::span<const int32_t> eos_ids) {
  int32_t n = tokenizer.vocab_size();
  std::vector<std::string> bytes(static_cast<size_t>(n));
  std::vector<int32_t> special;
  for (int32_t id = 0; id < n; id++) {
    if (tokenizer.is_special(id) || tokenizer.is_added(id)) {  // <think>, <tool_call>: symbols, not text
      special.push_back(id);
    } else {
      bytes[size_t(id)] = std::string(tokenizer.token_bytes(id));
    }
  }
  return make_vocabulary(std::move(bytes), std::move(special), eos_ids);
}

int32_t vocabulary_size(const Vocabulary& v) {
  return v.n_vocab;
}
const std::vector<int32_t>& vocab_eos(const Vocabulary& v) {
  return v.eos_ids;
}

}  // namespace qwen3::constrain
