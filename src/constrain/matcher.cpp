// The matcher: the grammar run as a pushdown automaton over bytes with a set of stacks, determinised on
// demand (engine.h), and the token masks computed by one walk of the vocabulary's token trie per new state.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "constrain/engine.h"

namespace qwen3::constrain {

namespace {
constexpr size_t kMaxStacksPerState = 20000;  // a grammar so ambiguous is refused at run time
constexpr size_t kMaxCachedMasks = 512;       // 19 KB each for Qwen3's vocabulary
constexpr int32_t kGroupNodes = 16384;        // walk_root keeps groups of first bytes with this many nodes
constexpr size_t kMaxRootGroups = 64;         // 19 KB each
}  // namespace

int32_t Grammar::intern_node(int32_t pos, int32_t parent) const {
  const uint64_t key = ((uint64_t(uint32_t(pos)) << 32) | uint32_t(parent)) + 1;  // never 0 (empty slot)
  if (int32_t id = cache.node_index.find(key); id >= 0) return id;
  int32_t id = int32_t(cache.node_pos.size());
  cache.node_pos.push_back(pos);
  cache.node_parent.push_back(parent);
  cache.node_index.insert(key, id);
  return id;
}

int32_t Grammar::intern_state(std::vector<int32_t>& nodes) const {
  if (nodes.empty()) return kDead;
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  uint64_t key = std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(nodes.data()),
                                                                nodes.size() * sizeof(int32_t))) |
                 1;  // never 0 (an empty slot)
  for (int32_t found; (found = cache.state_index.find(key)) >= 0; key = (key * 0x9E3779B97F4A7C15ull) | 1)
    if (cache.states[size_t(found)] == nodes) return found;
  int32_t id = int32_t(cache.states.size());
  cache.state_index.insert(key, id);
  cache.accepting.push_back(nodes[0] == 0);
  cache.states.push_back(nodes);
  cache.rows.resize(cache.rows.size() + size_t(n_cols), kUnknown);
  cache.masks.emplace_back();
  return id;
}

// Adds to out every stack (as its top node) reachable from "at position pos, then return to parent" without
// consuming input: rule references push their return position (none when the reference ends its alternative,
// so right recursion keeps the stack flat), alternative ends pop. The grammar has no left recursion (checked
// at build), so this terminates.
void Grammar::expand(int32_t pos, int32_t parent, std::vector<int32_t>& out) const {
  auto& work = cache.work;
  auto& seen = cache.seen;
  work.clear();
  seen.clear();
  work.emplace_back(pos, parent);
  while (!work.empty()) {
    auto [p, par] = work.back();
    work.pop_back();
    if (!seen.insert(((uint64_t(uint32_t(p)) << 32) | uint32_t(par)) + 1)) continue;
    const Elem& e = elems[size_t(p)];
    switch (e.kind) {
      case Elem::kEnd:
        if (par == 0) {
          out.push_back(0);
        } else {
          work.emplace_back(cache.node_pos[size_t(par)], cache.node_parent[size_t(par)]);
        }
        break;
      case Elem::kBytes:
      case Elem::kSpecial:
        out.push_back(intern_node(p, par));
        break;
      case Elem::kRule: {
        int32_t ret = p + 1;
        int32_t np = elems[size_t(ret)].kind == Elem::kEnd ? par : intern_node(ret, par);
        for (int32_t a : rule_alts[size_t(e.id)]) work.emplace_back(a, np);
        break;
      }
    }
    if (out.size() > kMaxStacksPerState || seen.size() > 16 * kMaxStacksPerState)
      throw Error("constrained decoding: the grammar is too ambiguous (more than 20000 parse stacks)");
  }
}

int32_t Grammar::compute_next(int32_t state, int32_t col) const {
  const bool is_byte = col < n_classes;
  const int byte = is_byte ? class_rep[size_t(col)] : -1;
  const int32_t special = is_byte ? -1 : special_of_symbol[size_t(col - n_classes)];
  std::vector<int32_t>& out = cache.stacks;  // expand and intern_state never come back here
  out.clear();
  const std::vector<int32_t>& nodes = cache.states[size_t(state)];  // expand adds nodes, never states
  for (int32_t n : nodes) {
    if (n == 0) continue;
    int32_t p = cache.node_pos[size_t(n)];
    const Elem& e = elems[size_t(p)];
    bool ok =
        e.kind == Elem::kBytes ? (is_byte && sets[size_t(e.id)].test(byte)) : (!is_byte && special == e.id);
    if (ok) expand(p + 1, cache.node_parent[size_t(n)], out);
  }
  return intern_state(out);
}

void Grammar::walk(int32_t begin, int32_t end, uint32_t* bits) const {
  const Vocabulary& v = *vocab;
  int32_t* st = cache.walk_states.data();
  const uint8_t* nb = v.node_byte.data();
  const uint16_t* nd = v.node_depth.data();
  const int32_t* ne = v.node_end.data();
  const int32_t* to = v.tok_off.data();
  const int32_t* ids = v.tok_ids.data();
  const uint8_t* cls = class_of.data();
  for (int32_t i = begin; i < end;) {
    int32_t t = next_col(st[nd[i] - 1u], cls[nb[i]]);
    if (t == kDead) {
      i = ne[i];
      continue;
    }
    st[nd[i]] = t;
    for (int32_t k = to[i]; k < to[i + 1]; k++) bits[ids[k] >> 5] |= 1u << (ids[k] & 31);
    i++;
  }
}

// The walk of the whole trie, its first bytes grouped by the state they lead to: the tokens of a group depend
// only on that state and those bytes, so a group of many nodes (a large part of the vocabulary) is kept and
// reused by any state that has it. An unanchored pattern's states share one: every byte but the pattern's
// next characters leads back to its start.
void Grammar::walk_root(int32_t state, uint32_t* bits) const {
  const Vocabulary& v = *vocab;
  int32_t target[256];
  for (int b = 0; b < 256; b++) target[b] = v.root_child[size_t(b)] >= 0 ? next(state, b) : kDead;
  auto subtree = [&](int b, uint32_t* out) {
    const int32_t node = v.root_child[size_t(b)];
    cache.walk_states[0] = state;
    walk(node, v.node_end[size_t(node)], out);
  };
  bool seen[256] = {};
  for (int b = 0; b < 256; b++) {
    if (seen[b] || target[b] == kDead) continue;
    ByteSet group;
    int64_t nodes = 0;
    for (int c = b; c < 256; c++) {
      if (target[c] != target[b]) continue;
      group.set(c);
      seen[c] = true;
      nodes += v.node_end[size_t(v.root_child[size_t(c)])] - v.root_child[size_t(c)];
    }
    if (nodes < kGroupNodes) {
      for (int c = b; c < 256; c++)
        if (group.test(c)) subtree(c, bits);
      continue;
    }
    auto key = std::make_pair(target[b], group);
    auto it = cache.root_groups.find(key);
    if (it == cache.root_groups.end()) {
      auto m = std::make_shared<std::vector<uint32_t>>(size_t(v.n_vocab + 31) / 32, 0u);
      for (int c = b; c < 256; c++)
        if (group.test(c)) subtree(c, m->data());
      if (cache.root_groups.size() >= kMaxRootGroups) cache.root_groups.clear();  // bound the memory
      it = cache.root_groups.emplace(key, std::move(m)).first;
    }
    const std::vector<uint32_t>& m = *it->second;
    for (size_t w = 0; w < m.size(); w++) bits[w] |= m[w];
  }
}

// Body states: a state s whose many ASCII bytes B all lead to one state t (the next character), whose bytes
// >= 0x80 either all die (ASCII body) or behave exactly as UTF-8 validation with every complete character
// leading to t too (UTF-8 body; checked on the product with the UTF-8 automaton). A chain of such states with
// the same B (a loop: t == s, or a bounded repetition: t, t', ... until the characters die) takes its mask
// from the vocabulary's body set: the tokens of B-characters up to the characters left, plus walks from the
// escape nodes (the first byte outside B) at the chain state of their position.
bool Grammar::body_step(int32_t s, const ByteSet& loop, bool utf8, int32_t& t) const {
  auto& memo = cache.body_steps;
  if (memo.size() <= size_t(s)) memo.resize(cache.states.size());
  if (memo[size_t(s)].utf8 == int8_t(utf8) && memo[size_t(s)].loop == loop) {
    t = memo[size_t(s)].t;
    return memo[size_t(s)].ok;
  }
  const bool ok = compute_body_step(s, loop, utf8, t);
  if (memo.size() <= size_t(s)) memo.resize(cache.states.size());  // stepping may have added states
  memo[size_t(s)] = {loop, int8_t(utf8), ok, t};
  return ok;
}

bool Grammar::compute_body_step(int32_t s, const ByteSet& loop, bool utf8, int32_t& t) const {
  t = kUnknown;
  for (int b = 0; b < 128; b++) {
    if (!loop.test(b)) continue;
    int32_t x = next(s, b);
    if (t == kUnknown) t = x;
    if (x != t) return false;
  }
  if (!utf8) {
    for (int b = 128; b < 256; b++)
      if (next(s, b) != kDead) return false;
    return true;
  }
  std::vector<std::pair<int32_t, int>> todo{{s, 0}}, seen{{s, 0}};
  while (!todo.empty()) {
    auto [q, u] = todo.back();
    todo.pop_back();
    for (int b = u == 0 ? 128 : 0; b < 256; b++) {
      int nu = utf8_step(u, uint8_t(b));
      int32_t nq = next(q, b);
      if (nu < 0 || (t == kDead && u == 0)) {
        if (nq != kDead) return false;
        continue;
      }
      if (nq == kDead) return false;
      if (nu == 0) {
        if (nq != t) return false;
        continue;
      }
      std::pair<int32_t, int> p{nq, nu};
      if (std::find(seen.begin(), seen.end(), p) == seen.end()) {
        if (seen.size() > 64) return false;
        seen.push_back(p);
        todo.push_back(p);
      }
    }
  }
  return true;
}

namespace {

// Fills targets with each ASCII byte's next state from `state`; returns the most common live one (kDead if
// none) and its count in n.
int32_t ascii_majority(const Grammar& g, int32_t state, int32_t (&targets)[128], int& n) {
  for (int b = 0; b < 128; b++) targets[b] = g.next(state, b);
  int32_t best = kDead;
  n = 0;
  for (int b = 0; b < 128; b++) {
    if (targets[b] == kDead || targets[b] == best) continue;
    int k = 0;
    for (int c = 0; c < 128; c++) k += targets[c] == targets[b];
    if (k > n) best = targets[b], n = k;
  }
  return best;
}

}  // namespace

std::shared_ptr<const Vocabulary::BodySet> Grammar::body_of(int32_t state, std::vector<int32_t>& chain,
                                                            int64_t& r) const {
  // The next-character state: the most common live target of the ASCII bytes.
  int32_t targets[128];
  int best_n = 0;
  const int32_t best = ascii_majority(*this, state, targets, best_n);
  if (best_n < 8) return nullptr;
  ByteSet loop;
  for (int b = 0; b < 128; b++)
    if (targets[b] == best) loop.set(b);
  bool utf8 = false;
  for (int b = 128; b < 256 && !utf8; b++) utf8 = next(state, b) != kDead;
  // Not a body state: known before the vocabulary's body set for the loop is built (a full trie walk, 1-3 ms
  // the first time), which would be wasted.
  int32_t first;
  if (!body_step(state, loop, utf8, first)) return nullptr;
  auto body = vocab->body_set(loop, utf8);
  chain.assign(1, state);
  r = -2;  // checked up to kCumMax characters only
  for (int64_t k = 0;; k++) {
    int32_t s = chain.back(), t;
    if (!body_step(s, loop, utf8, t)) return nullptr;
    if (t == kDead) {  // the characters end here
      r = k;
      break;
    }
    if (t == s) {  // a loop: any number
      r = -1;
      break;
    }
    chain.push_back(t);
    if (k + 1 >= body->max_count) {  // no token needs more
      r = -1;
      break;
    }
    if (k + 1 >= Vocabulary::kCumMax) break;
  }
  return body;
}

// A state whose ASCII first bytes F mostly lead to one state t != state that loops on its body bytes (a key
// that must differ from some names: any other first character leaves the names behind): the tokens starting
// with a byte of F whose rest is body (the vocabulary's rest set, shared by every grammar), walks from the
// escapes below those first bytes at t, and plain walks of the other first bytes' subtrees.
bool Grammar::rest_mask(int32_t state, uint32_t* bits) const {
  const Vocabulary& v = *vocab;
  int32_t targets[128];
  int best_n = 0;
  const int32_t best = ascii_majority(*this, state, targets, best_n);
  if (best_n < 32 || best == state) return false;
  // best must be a loop body: its own body bytes lead back to it.
  ByteSet loop;
  int n_loop = 0;
  for (int b = 0; b < 128; b++)
    if (next(best, b) == best) loop.set(b), n_loop++;
  if (n_loop < 32) return false;
  bool utf8 = false;
  for (int b = 128; b < 256 && !utf8; b++) utf8 = next(best, b) != kDead;
  int32_t t;
  if (!body_step(best, loop, utf8, t) || t != best) return false;
  // Non-ASCII first characters: all of them must lead to best (and invalid UTF-8 die) to take them from the
  // rest set; else their subtrees are walked.
  bool non_ascii = false;
  if (utf8) {
    ByteSet one;
    int b0 = 0;
    while (targets[b0] != best) b0++;
    one.set(b0);
    int32_t t1;
    non_ascii = body_step(state, one, true, t1) && t1 == best;
  }
  auto rs = vocab->rest_set(loop, utf8);
  std::copy(rs->all.begin(), rs->all.end(), bits);
  for (int b = 0; b <= 128; b++) {
    if (b < 128 ? (targets[b] == best || v.root_child[size_t(b)] < 0) : non_ascii) continue;
    for (int32_t id : rs->by_first[size_t(b)]) bits[id >> 5] &= ~(1u << (id & 31));
  }
  auto& st = cache.walk_states;
  st.assign(size_t(v.max_depth) + 1, 0);
  for (auto [e, fb] : rs->escapes) {
    if (fb < 128 ? targets[fb] != best : !non_ascii) continue;
    st[size_t(v.node_depth[size_t(e)]) - 1] = best;
    walk(e, v.node_end[size_t(e)], bits);
  }
  st[0] = state;
  for (int b = 0; b < 256; b++) {
    int32_t node = v.root_child[size_t(b)];
    if (node < 0 || (b < 128 ? targets[b] == best : non_ascii)) continue;
    walk(node, v.node_end[size_t(node)], bits);
  }
  return true;
}

bool Grammar::only_accepts(int32_t state) const {
  const auto& nodes = cache.states[size_t(state)];
  return nodes.size() == 1 && nodes[0] == 0;
}

const std::vector<uint32_t>& Grammar::mask(int32_t state,
                                           std::shared_ptr<const std::vector<uint32_t>>& keep) const {
  if (cache.masks[size_t(state)]) {
    keep = cache.masks[size_t(state)];
    return *keep;
  }
  const Vocabulary& v = *vocab;
  auto m = std::make_shared<std::vector<uint32_t>>((size_t(v.n_vocab) + 31) / 32, 0u);
  uint32_t* bits = m->data();
  auto& st = cache.walk_states;
  st.assign(size_t(v.max_depth) + 1, 0);
  st[0] = state;
  std::vector<int32_t> chain;
  int64_t r = -1;
  auto T0 = std::chrono::steady_clock::now();
  size_t nstates0 = cache.states.size();
  std::shared_ptr<const Vocabulary::BodySet> body;
  bool rest = rest_mask(state, bits);
  if (!rest) body = body_of(state, chain, r);
  double dt_body = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - T0).count();
  size_t nstates1 = cache.states.size();
  auto report = [&]() {
    double dt = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - T0).count();
    static const bool debug = getenv("QWEN3_CONSTRAIN_DEBUG") != nullptr;  // slow masks on stderr
    if (debug && dt > 1000)
      fprintf(stderr, "mask %.0f us: body_of %.0f us (%s r=%ld chain=%zu) new states %zu + %zu of %zu x %d\n",
              dt, dt_body,
              rest   ? "rest"
              : body ? "body"
                     : "walk",
              long(r), chain.size(), nstates1 - nstates0, cache.states.size() - nstates1, cache.states.size(),
              n_cols);
  };
  if (rest) {
  } else if (body) {
    // r >= 0: at most r more characters; -1: any number; -2: checked up to kCumMax characters only (longer
    // tokens and escapes deeper than that are stepped one by one).
    auto step_token = [&](int32_t id) {
      int32_t q = state;
      for (unsigned char c : v.bytes[size_t(id)]) {
        q = next(q, c);
        if (q == kDead) return;
      }
      bits[id >> 5] |= 1u << (id & 31);
    };
    if (r == -1) {
      std::copy(body->all.begin(), body->all.end(), bits);
    } else {
      const auto& cum =
          body->cum[size_t(r >= 0 ? std::min<int64_t>(r, Vocabulary::kCumMax) : Vocabulary::kCumMax)];
      std::copy(cum.begin(), cum.end(), bits);
      if (r == -2) {
        for (auto [count, id] : body->longer) step_token(id);
      }
    }
    st.assign(size_t(v.max_depth) + 1, 0);
    for (auto [e, k] : body->escapes) {
      if (r >= 0 && k > r) continue;
      if (r == -2 && size_t(k) >= chain.size()) {
        for (int32_t x = v.tok_off[size_t(e)]; x < v.tok_off[size_t(v.node_end[size_t(e)])]; x++)
          step_token(v.tok_ids[size_t(x)]);
        continue;
      }
      int32_t d = v.node_depth[size_t(e)];
      st[size_t(d) - 1] = size_t(k) < chain.size() ? chain[size_t(k)] : chain.back();
      walk(e, v.node_end[size_t(e)], bits);
    }
  } else {
    walk_root(state, bits);
  }
  report();
  for (size_t k = 0; k < special_of_symbol.size(); k++) {
    if (next(state, 256 + int32_t(k)) != kDead) {
      int32_t id = special_of_symbol[k];
      if (id >= 0 && id < v.n_vocab) bits[id >> 5] |= 1u << (id & 31);
    }
  }
  if (cache.accepting[size_t(state)]) {
    for (int32_t id : v.eos_ids)
      if (id >= 0 && id < v.n_vocab) bits[id >> 5] |= 1u << (id & 31);
  }
  keep = m;
  if (cache.n_masks >= kMaxCachedMasks) {  // simplest bound on memory: start over
    for (auto& x : cache.masks) x.reset();
    cache.n_masks = 0;
  }
  cache.masks[size_t(state)] = m;
  cache.n_masks++;
  return *keep;
}

// ---- Matcher ----

struct Matcher::State {
  std::shared_ptr<const Grammar> g;
  int32_t state = 0;
  bool finished = false;  // EOS was accepted
};

Matcher::Matcher(std::shared_ptr<const Grammar> grammar) : s_(std::make_unique<State>()) {
  s_->g = std::move(grammar);
  s_->state = s_->g->initial;
}
Matcher::~Matcher() = default;
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;

Matcher Matcher::clone() const {
  Matcher m(s_->g);
  *m.s_ = *s_;
  return m;
}

void Matcher::fill_mask(std::span<uint32_t> allowed) {
  std::fill(allowed.begin(), allowed.end(), 0u);
  if (s_->finished) return;
  const Grammar& g = *s_->g;
  std::shared_ptr<const std::vector<uint32_t>> keep;
  std::lock_guard<std::mutex> lock(g.mu);
  const auto& m = g.mask(s_->state, keep);
  std::memcpy(allowed.data(), m.data(), std::min(allowed.size(), m.size()) * sizeof(uint32_t));
}

bool Matcher::mask_ready() const {
  if (s_->finished) return true;
  const Grammar& g = *s_->g;
  std::lock_guard<std::mutex> lock(g.mu);
  return g.cache.masks[size_t(s_->state)] != nullptr;
}

bool Matcher::advance(int32_t token) {
  if (s_->finished) return false;
  const Grammar& g = *s_->g;
  const Vocabulary& v = *g.vocab;
  if (token < 0 || token >= v.n_vocab) return false;
  std::lock_guard<std::mutex> lock(g.mu);
  int32_t st = s_->state;
  auto sym = g.symbol_of_special.find(token);
  if (sym != g.symbol_of_special.end()) {
    int32_t t = g.next(st, 256 + sym->second);
    if (t != kDead) {
      s_->state = t;
      return true;
    }
  }
  if (std::find(v.eos_ids.begin(), v.eos_ids.end(), token) != v.eos_ids.end()) {
    if (!g.cache.accepting[size_t(st)]) return false;
    s_->finished = true;
    return true;
  }
  if (v.special[size_t(token)]) return false;
  const std::string& b = v.bytes[size_t(token)];
  if (b.empty()) return false;
  for (unsigned char c : b) {
    st = g.next(st, c);
    if (st == kDead) return false;
  }
  s_->state = st;
  return true;
}

bool Matcher::advance_bytes(std::string_view bytes) {
  if (s_->finished) return false;
  const Grammar& g = *s_->g;
  std::lock_guard<std::mutex> lock(g.mu);
  int32_t st = s_->state;
  for (unsigned char c : bytes) {
    st = g.next(st, c);
    if (st == kDead) return false;
  }
  s_->state = st;
  return true;
}

bool Matcher::can_end() const {
  if (s_->finished) return true;
  std::lock_guard<std::mutex> lock(s_->g->mu);
  return s_->g->cache.accepting[size_t(s_->state)];
}

bool Matcher::is_done() const {
  if (s_->finished) return true;
  std::lock_guard<std::mutex> lock(s_->g->mu);
  return s_->g->only_accepts(s_->state);
}

}  // namespace qwen3::constrain
