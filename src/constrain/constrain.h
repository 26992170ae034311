// NOTE TO THE IMPLEMENTER (delete this note in your first commit): your task's ground rules are in
// /tmp/common_brief.md — READ IT NOW (commit rule, own build dir, tests, deadline 17:45 UTC).
// Constrained decoding: JSON Schema, GBNF grammars and regular expressions compiled into a matcher that
// gives, at each step, the exact set of allowed token ids over the whole vocabulary (special tokens included)
// and advances on the sampled token. Its own layer between the tokenizer and sampling: includes core and
// tokenizer only.
//
// The interface below is the contract the sampler, scheduler, server and CLI are written against (the lead's
// side of issue 16); the engine behind it may change freely. Extend it; do not break it without updating the
// callers.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace qwen3 {
class Tokenizer;
}

namespace qwen3::constrain {

// A schema, grammar or regex the engine cannot compile or enforce. `keyword` names the JSON Schema keyword
// (or "grammar"/"regex"), `path` the JSON pointer inside the schema ("/properties/age"), so the server can
// answer 400 with param naming the field and the keyword.
struct CompileError : Error {
  CompileError(const std::string& message, std::string keyword_, std::string path_)
      : Error(message), keyword(std::move(keyword_)), path(std::move(path_)) {}
  std::string keyword;
  std::string path;
};

struct Limits {  // documented in docs/SERVER.md; exceeding one is a CompileError
  size_t max_schema_bytes = 1 << 20;
  int max_depth = 64;
  size_t max_rules = 100000;
};

// The vocabulary as the matcher sees it: every id's bytes, which ids are special (matched only by a token
// terminal), and the end-of-sequence ids that are allowed exactly when the grammar may end. Built once per
// model, shared by every grammar compiled for it (holds the token trie / lexer index).
class Vocabulary;
std::shared_ptr<const Vocabulary> make_vocabulary(const Tokenizer& tokenizer,
                                                  std::span<const int32_t> eos_ids);
// From raw token bytes (index = id); special ids match only token terminals. For tests and tools.
std::shared_ptr<const Vocabulary> make_vocabulary(std::vector<std::string> token_bytes,
                                                  std::vector<int32_t> special_ids,
                                                  std::span<const int32_t> eos_ids);
int32_t vocabulary_size(const Vocabulary& v);                // the number of ids (the tokenizer's vocab_size)
const std::vector<int32_t>& vocab_eos(const Vocabulary& v);  // the end-of-sequence ids

// A compiled grammar: immutable, shared by every sequence that uses it (cache it by a hash of its source).
class Grammar;

// Grammar construction from pieces, so callers can compose e.g. Qwen3's tool-call wrapper around a schema:
//   seq({token(<tool_call>), literal("\n{\"name\": \"get\", \"arguments\": "), json_schema(params),
//        literal("}\n"), token(</tool_call>)})
class Builder {
 public:
  using Rule = int32_t;
  Builder(std::shared_ptr<const Vocabulary> vocab, Limits limits = {});
  ~Builder();
  Rule json_schema(
      const nlohmann::ordered_json& schema);  // JSON value valid against schema; throws CompileError
  Rule json_value();  // any JSON value ({"type":"json_object"} is json_schema({"type":"object"}))
  Rule gbnf(std::string_view text);      // llama.cpp GBNF; its `root` rule
  Rule regex(std::string_view pattern);  // ECMA-262 subset, whole-match
  Rule literal(std::string_view bytes);
  Rule token(int32_t special_id);  // exactly that (special) token
  Rule seq(std::vector<Rule> parts);
  Rule alt(std::vector<Rule> choices);
  Rule repeat(Rule r, int min, int max);  // max < 0: unbounded
  std::shared_ptr<const Grammar> build(Rule root);
  // JSON whitespace: off (default), compact output plus an optional single space after ',' and ':' (Python's
  // json.dumps separators); on, any JSON whitespace between tokens. Applies to later json_* calls.
  void set_flexible_whitespace(bool on);

 private:
  Rule check(Rule r) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One sequence's position in a grammar. Cheap to create; not thread-safe (one per sequence).
class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Grammar> grammar);
  ~Matcher();
  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;
  // An independent matcher at the same position (sharing the compiled grammar and its cache).
  Matcher clone() const;
  // Bit i of allowed (ceil(n_vocab/32) words) is set iff token i keeps the output a valid prefix (EOS ids iff
  // the grammar may end here). Exact: tokens spanning several terminals and partial UTF-8 bytes included.
  void fill_mask(std::span<uint32_t> allowed);
  // Whether fill_mask here is only a copy (the mask of this position was computed before and is kept): a
  // caller that overlaps mask work with other work need not hand this one off.
  bool mask_ready() const;
  // Advances on a token; false (and no change) if it is not allowed.
  bool advance(int32_t token);
  // Advances on raw bytes (forced text, tests); false (and no change) if they do not keep a valid prefix.
  bool advance_bytes(std::string_view bytes);
  bool can_end() const;  // the text so far is a complete match
  bool is_done() const;  // complete and nothing more can follow (only EOS allowed)

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace qwen3::constrain
