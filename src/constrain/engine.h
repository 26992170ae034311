// The compiled grammar and its lazily built automaton (see ir.h for the grammar form).
//
// A matcher position is a set of stacks of grammar positions, each stack's top at a terminal (or the empty
// stack: the grammar has matched). Stacks are interned as linked nodes (position, parent), sets of them as
// states; the transition on each byte or special-token symbol is computed once per state and kept, so the
// automaton is a DFA built on demand. The mask of a state is computed by walking the vocabulary's token trie
// once (a subtree is skipped at its first dead byte) and kept for states that recur. The cache is shared by
// every matcher of the grammar, behind a mutex.
#pragma once

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "constrain/ir.h"

namespace qwen3::constrain {

class Vocabulary {
 public:
  int32_t n_vocab = 0;
  std::vector<std::string> bytes;  // per id ("" for special ids and unknown ids)
  std::vector<uint8_t> special;    // per id
  std::vector<int32_t> special_ids;
  std::vector<int32_t> eos_ids;
  // The token trie in pre-order: node i has byte node_byte[i] at depth node_depth[i] (1 = a first byte), its
  // subtree is [i, node_end[i]), and the ids whose bytes end there are tok_ids[tok_off[i] .. tok_off[i+1]).
  std::vector<uint8_t> node_byte;
  std::vector<uint16_t> node_depth;
  std::vector<int32_t> node_end;
  std::vector<int32_t> tok_off;
  std::vector<int32_t> tok_ids;
  int max_depth = 0;

  // Tokens a "body" state keeps whole: for a set B of ASCII bytes that loop on a state (and, with utf8, every
  // valid UTF-8 character looping too, invalid ones dead), the tokens made of such bytes (a last character
  // may be incomplete) and the escape nodes: the first byte outside B on such a path, where the walk resumes.
  // A token's count is its characters, a last incomplete one included: body tokens with count <= R are
  // allowed where R more characters may follow.
  static constexpr int kCumMax = 16;
  struct BodySet {
    std::vector<std::vector<uint32_t>> cum;            // cum[n]: body tokens of count <= n (n <= kCumMax)
    std::vector<uint32_t> all;                         // every body token
    std::vector<std::pair<int32_t, int32_t>> longer;   // (count, id) of count > kCumMax, sorted
    std::vector<std::pair<int32_t, int32_t>> escapes;  // (node, characters before it)
    int32_t max_count = 0;
  };
  std::shared_ptr<const BodySet> body_set(const ByteSet& ascii_loop, bool utf8) const;
  // For states whose ASCII first bytes mostly lead to one body loop state (a key that must differ from a set
  // of names, a first character apart): the tokens with an ASCII first byte whose rest is body (all, and by
  // first byte), and the escape nodes below the first byte.
  struct RestSet {
    std::vector<uint32_t> all;
    std::vector<std::vector<int32_t>> by_first;        // their ids by first byte (128: non-ASCII)
    std::vector<std::pair<int32_t, uint8_t>> escapes;  // (node, first byte)
  };
  std::shared_ptr<const RestSet> rest_set(const ByteSet& ascii_loop, bool utf8) const;
  std::array<int32_t, 256> root_child{};  // node of each first byte, -1 if none
  mutable std::map<std::pair<ByteSet, bool>, std::shared_ptr<const RestSet>> rest_sets;
  mutable std::mutex body_mu;
  mutable std::map<std::pair<ByteSet, bool>, std::shared_ptr<const BodySet>> body_sets;
};

int utf8_step(int u, uint8_t b);  // UTF-8 validation DFA: state 0 = at a character boundary, -1 = invalid

constexpr int32_t kDead = -2;
constexpr int32_t kUnknown = -1;

// An open-addressing map from a non-zero 64-bit key to an int32 (the stack-node index: looked up for every
// element of every new state, where std::unordered_map's node allocations and pointer chasing dominated).
class NodeIndex {
 public:
  // The value of key, or -1.
  int32_t find(uint64_t key) const {
    if (keys_.empty()) return -1;
    for (size_t i = slot(key);; i = (i + 1) & (keys_.size() - 1)) {
      if (keys_[i] == key) return vals_[i];
      if (keys_[i] == 0) return -1;
    }
  }
  void insert(uint64_t key, int32_t value) {
    if ((n_ + 1) * 2 > keys_.size()) grow();
    size_t i = slot(key);
    while (keys_[i] != 0) i = (i + 1) & (keys_.size() - 1);
    keys_[i] = key, vals_[i] = value, n_++;
  }

 private:
  size_t slot(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> 20) & (keys_.size() - 1); }
  void grow() {
    std::vector<uint64_t> k(std::max<size_t>(64, keys_.size() * 2), 0);
    std::vector<int32_t> v(k.size());
    k.swap(keys_), v.swap(vals_);
    n_ = 0;
    for (size_t i = 0; i < k.size(); i++)
      if (k[i] != 0) insert(k[i], v[i]);
  }
  std::vector<uint64_t> keys_;  // 0: empty
  std::vector<int32_t> vals_;
  size_t n_ = 0;
};

// A set of non-zero 64-bit keys that is emptied in time proportional to its size (expand's visited
// (position, parent) pairs: a linear search over them was quadratic in the stacks of a state).
class KeySet {
 public:
  bool insert(uint64_t key) {  // false when already there
    if ((used_.size() + 1) * 2 > keys_.size()) grow();
    size_t i = slot(key);
    for (; keys_[i] != 0; i = (i + 1) & (keys_.size() - 1))
      if (keys_[i] == key) return false;
    keys_[i] = key;
    used_.push_back(i);
    return true;
  }
  void clear() {
    for (size_t i : used_) keys_[i] = 0;
    used_.clear();
  }
  size_t size() const { return used_.size(); }

 private:
  size_t slot(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> 24) & (keys_.size() - 1); }
  void grow() {
    std::vector<uint64_t> old;
    old.reserve(used_.size());
    for (size_t i : used_) old.push_back(keys_[i]);
    keys_.assign(std::max<size_t>(64, keys_.size() * 2), 0);
    used_.clear();
    for (uint64_t k : old) insert(k);
  }
  std::vector<uint64_t> keys_;  // 0: empty
  std::vector<size_t> used_;    // the filled slots
};

class Grammar {
 public:
  std::shared_ptr<const Vocabulary> vocab;
  std::vector<Elem> elems;                      // every alternative's elements followed by a kEnd
  std::vector<std::vector<int32_t>> rule_alts;  // start position of each alternative, per rule
  std::vector<ByteSet> sets;
  std::vector<int32_t> special_of_symbol;  // symbol 256 + k is special token special_of_symbol[k]
  std::unordered_map<int32_t, int32_t> symbol_of_special;
  int32_t n_symbols = 256;  // bytes, then special tokens (256 + k)
  // Bytes in the same byte sets behave alike everywhere: transitions are kept per class.
  std::array<uint8_t, 256> class_of{};
  std::vector<uint8_t> class_rep;  // a byte of each class
  int32_t n_classes = 0;
  int32_t n_cols = 0;  // n_classes + special symbols
  int32_t root = 0;
  int32_t initial = 0;  // the initial state

  // Cache (guarded by mu).
  struct Cache {
    std::vector<int32_t> node_pos, node_parent;  // stack node 0 is the empty stack
    NodeIndex node_index;                        // (pos << 32 | parent) + 1 -> node
    std::vector<std::vector<int32_t>> states;    // sorted stack-node ids
    NodeIndex state_index;      // a hash of the sorted stack nodes (re-hashed on a collision) -> state
    std::vector<int32_t> rows;  // n_states x n_symbols transitions
    std::vector<uint8_t> accepting;
    std::vector<std::shared_ptr<const std::vector<uint32_t>>> masks;
    size_t n_masks = 0;
    std::vector<int32_t> walk_states;
    KeySet seen;                  // scratch for expand
    std::vector<int32_t> stacks;  // scratch for compute_next
    std::vector<std::pair<int32_t, int32_t>> work;
    // body_step's last answer per state: a chain of n body states is stepped once per state, not once per
    // mask of each state on it (n masks x n steps).
    struct BodyStep {
      ByteSet loop;
      int8_t utf8 = -1;  // -1: none yet
      bool ok = false;
      int32_t t = kUnknown;
    };
    std::vector<BodyStep> body_steps;
    // walk_root's large groups: (the state its first bytes lead to, those bytes) -> the tokens allowed.
    std::map<std::pair<int32_t, ByteSet>, std::shared_ptr<const std::vector<uint32_t>>> root_groups;
  };
  mutable std::mutex mu;
  mutable Cache cache;

  // All below require mu held.
  int32_t intern_node(int32_t pos, int32_t parent) const;
  int32_t intern_state(std::vector<int32_t>& nodes) const;  // sorts and dedups nodes; kDead if empty
  void expand(int32_t pos, int32_t parent, std::vector<int32_t>& out) const;
  int32_t next(int32_t state, int32_t symbol) const {
    return next_col(state, symbol < 256 ? class_of[size_t(symbol)] : n_classes + symbol - 256);
  }
  int32_t next_col(int32_t state, int32_t col) const {
    int32_t t = cache.rows[size_t(state) * size_t(n_cols) + size_t(col)];
    if (t == kUnknown) {
      t = compute_next(state, col);  // may grow rows
      cache.rows[size_t(state) * size_t(n_cols) + size_t(col)] = t;
    }
    return t;
  }
  int32_t compute_next(int32_t state, int32_t col) const;
  const std::vector<uint32_t>& mask(int32_t state, std::shared_ptr<const std::vector<uint32_t>>& keep) const;
  bool only_accepts(int32_t state) const;
  void walk(int32_t begin, int32_t end, uint32_t* bits) const;  // cache.walk_states holds the parent states
  void walk_root(int32_t state, uint32_t* bits) const;          // the whole trie (cache.walk_states sized)
  // The body set that state's mask can start from (nullptr: walk the whole trie), the states after 0, 1, 2...
  // body characters (`chain`), and R, how many body characters may follow (-1: any number).
  std::shared_ptr<const Vocabulary::BodySet> body_of(int32_t state, std::vector<int32_t>& chain,
                                                     int64_t& r) const;
  bool body_step(int32_t s, const ByteSet& loop, bool utf8, int32_t& t) const;  // memoised
  bool compute_body_step(int32_t s, const ByteSet& loop, bool utf8, int32_t& t) const;
  // The mask through the rest set (false: not such a state).
  bool rest_mask(int32_t state, uint32_t* bits) const;
};

// The grammar form flattened for the matcher (builder.cpp); CompileError on left recursion.
std::shared_ptr<const Grammar> flatten(const Ir& ir, int32_t root, std::shared_ptr<const Vocabulary> vocab);

}  // namespace qwen3::constrain
