// Encoding and decoding (see tokenizer.h). The pipeline is HF's: added tokens split out of the raw text, NFC
// on what remains, normalized added tokens, the Split pre-tokenizer, then byte-level BPE per piece, with a
// per-thread cache of piece -> ids because natural text repeats its words.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/split.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/unicode.h"
#include "tokenizer/word_cache.h"

namespace qwen3 {

using tok::TokenizerData;

namespace {

using tok::WordCache;

void encode_word(const TokenizerData& d, std::string_view word, uint64_t hash, std::vector<int32_t>& out,
                 WordCache& cache) {
  if (word.size() == 1) {
    out.push_back(d.bpe.byte_ids[static_cast<unsigned char>(word[0])]);
    return;
  }
  if (cache.get(word, hash, out)) return;
  size_t before = out.size();
  auto whole = d.ignore_merges ? d.ids.find(tok::bytes_to_token(word)) : d.ids.end();
  if (whole != d.ids.end())
    out.push_back(whole->second);
  else
    d.bpe.merge_word(word, out);
  cache.put(word, hash, out.data() + before, out.size() - before);
}

// Pre-tokenizes normalised text and encodes each piece. The cache slots of the pieces a few steps ahead are
// prefetched: a look-up is a cache miss, and this keeps several in flight.
void encode_pieces(const TokenizerData& d, std::string_view text, std::vector<int32_t>& out,
                   WordCache& cache) {
  constexpr size_t kAhead = 8;
  thread_local std::vector<uint32_t> ends;
  thread_local std::vector<uint64_t> hashes;
  ends.clear();
  tok::split_qwen2(text, ends);
  const size_t n = ends.size();
  hashes.resize(n);
  for (size_t k = 0, start = 0; k < n; start = ends[k++]) {
    hashes[k] = WordCache::hash(text.substr(start, ends[k] - start));
    if (k < kAhead) cache.prefetch(hashes[k]);
  }
  size_t start = 0;
  for (size_t k = 0; k < n; ++k) {
    if (k + kAhead < n) cache.prefetch(hashes[k + kAhead]);
    encode_word(d, text.substr(start, ends[k] - start), hashes[k], out, cache);
    start = ends[k];
  }
}

// Text between raw added tokens: NFC, then normalized added tokens, then pieces.
void encode_plain(const TokenizerData& d, std::string_view text, const uint8_t* mask,
                  std::vector<int32_t>& out, WordCache& cache) {
  std::string normalized;
  if (d.nfc && tok::nfc_hf(text, normalized)) {
    if (mask && !d.normalized_added.empty()) {
      // Offsets moved: the normalised text may hold added tokens only if all of its source bytes may.
      bool all = std::find(mask, mask + text.size(), uint8_t(0)) == mask + text.size();
      thread_local std::vector<uint8_t> m;
      m.assign(normalized.size(), all ? 1 : 0);
      mask = m.data();
    }
    text = normalized;
  }
  if (d.normalized_added.empty()) {
    encode_pieces(d, text, out, cache);
    return;
  }
  std::vector<tok::Segment> segs;
  d.normalized_added.split(text, mask, segs);
  for (const tok::Segment& s : segs) {
    if (s.id >= 0)
      out.push_back(s.id);
    else
      encode_pieces(d, text.substr(s.begin, s.end - s.begin), out, cache);
  }
}

}  // namespace

void Tokenizer::encode_into(std::string_view text, std::vector<int32_t>& ids,
                            const std::vector<uint8_t>* special_allowed) const {
  const TokenizerData& d = *d_;
  size_t bad = tok::find_invalid_utf8(text);
  if (bad != std::string_view::npos)
    throw_error("text is not valid UTF-8 (byte %zu of %zu: 0x%02x)", bad, text.size(),
                static_cast<unsigned char>(text[bad]));
  QWEN3_CHECK(text.size() < (size_t(1) << 32), "text too long to tokenize (%zu bytes)", text.size());
  QWEN3_CHECK(!special_allowed || special_allowed->size() == text.size(),
              "special_allowed mask has %zu bytes for a text of %zu",
              special_allowed ? special_allowed->size() : 0, text.size());
  thread_local WordCache cache;
  cache.bind(d.uid);
  const uint8_t* mask = special_allowed ? special_allowed->data() : nullptr;
  if (d.raw_added.empty()) {
    encode_plain(d, text, mask, ids, cache);
    return;
  }
  thread_local std::vector<tok::Segment> segs;
  segs.clear();
  d.raw_added.split(text, mask, segs);
  for (const tok::Segment& s : segs) {
    if (s.id >= 0)
      ids.push_back(s.id);
    else if (s.end > s.begin)
      encode_plain(d, text.substr(s.begin, s.end - s.begin), mask ? mask + s.begin : nullptr, ids, cache);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text,
                                       const std::vector<uint8_t>* special_allowed) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  encode_into(text, ids, special_allowed);
  return ids;
}

std::string_view Tokenizer::token_bytes(int32_t id, bool skip_special) const {
  if (id < 0 || size_t(id) >= d_->bytes.size()) return {};
  if (skip_special && d_->special[size_t(id)]) return {};
  return d_->bytes[size_t(id)];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) bytes += token_bytes(id, skip_special_tokens);
  std::string out;
  out.reserve(bytes.size());
  append_utf8_lossy(out, bytes);
  return out;
}

int32_t Tokenizer::vocab_size() const {
  return int32_t(d_->tokens.size());
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  auto it = d_->ids.find(token);
  if (it == d_->ids.end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || size_t(id) >= d_->tokens.size()) return {};
  return d_->tokens[size_t(id)];
}

bool Tokenizer::is_added(int32_t id) const {
  return id >= 0 && size_t(id) < d_->added.size() && d_->added[size_t(id)];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && size_t(id) < d_->special.size() && d_->special[size_t(id)];
}

}  // namespace qwen3
