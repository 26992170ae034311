// The tokenizer of a GGUF file (see Tokenizer::from_gguf): the tables tokenizer.json would have given, from
// tokenizer.ggml.tokens, token_type and merges. Tests: tests/gguf/ (same ids as tokenizer.json on the
// tokenizer test corpus).
#include <atomic>

#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/unicode.h"

namespace qwen3 {

Tokenizer Tokenizer::from_gguf(const gguf::Vocab& v, const std::string& origin) {
  QWEN3_CHECK(
      v.model == "gpt2" && v.pre == "qwen2",
      "%s: unsupported tokenizer (tokenizer.ggml.model \"%s\", pre \"%s\"): only Qwen's byte-level BPE "
      "(\"gpt2\", \"qwen2\") is implemented",
      origin.c_str(), v.model.c_str(), v.pre.c_str());
  QWEN3_CHECK(v.token_types.size() == v.tokens.size(), "%s: %zu token types for %zu tokens", origin.c_str(),
              v.token_types.size(), v.tokens.size());
  static std::atomic<uint64_t> next_uid{1u << 30};
  auto d = std::make_shared<tok::TokenizerData>();
  d->uid = next_uid++;
  d->nfc = true;  // Qwen's tokenizer.json normalizer, which "qwen2" stands for
  size_t n = 0;   // ids up to the last used one: the padding "[PAD<id>]" entries are no tokens
  for (size_t id = 0; id < v.tokens.size(); ++id)
    if (v.token_types[id] != gguf::kUnused) n = id + 1;
  d->tokens.assign(n, std::string());
  d->special.assign(n, 0);
  d->added.assign(n, 0);
  d->ids.reserve(n);
  std::vector<tok::AddedToken> added;
  for (size_t id = 0; id < n; ++id) {
    const int32_t type = v.token_types[id];
    if (type == gguf::kUnused) continue;
    const std::string& t = v.tokens[id];
    QWEN3_CHECK(!t.empty(), "%s: token %zu is empty", origin.c_str(), id);
    d->tokens[id] = t;
    d->ids.insert_or_assign(t, static_cast<int32_t>(id));
    if (type == gguf::kControl || type == gguf::kUserDefined) {
      QWEN3_CHECK(tok::find_invalid_utf8(t) == std::string_view::npos, "%s: added token %zu is not UTF-8",
                  origin.c_str(), id);
      QWEN3_CHECK(added.size() < 65535, "%s: more added tokens than this tokenizer supports", origin.c_str());
      tok::AddedToken a;
      a.content = t;
      a.id = static_cast<int32_t>(id);
      a.special = type == gguf::kControl;
      d->special[id] = a.special;
      d->added[id] = 1;
      added.push_back(std::move(a));
    }
  }
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(v.merges.size());
  for (const std::string& m : v.merges) {
    const size_t sp = m.find(' ');
    QWEN3_CHECK(sp != std::string::npos && m.find(' ', sp + 1) == std::string::npos, "%s: bad merge \"%s\"",
                origin.c_str(), m.c_str());
    merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  tok::build_byte_and_merge_tables(*d, merges, origin);
  d->raw_added = tok::AddedMatcher(added, false);
  Tokenizer tokenizer;
  tokenizer.d_ = std::move(d);
  return tokenizer;
}

}  // namespace qwen3
