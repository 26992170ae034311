// What a loaded Tokenizer holds (internal to src/tokenizer).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"

namespace qwen3::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct TokenizerData {
  Bpe bpe;
  std::vector<std::string> tokens;  // id -> token string as in tokenizer.json ("" where no token has that id)
  std::vector<std::string> bytes;   // id -> the bytes HF's ByteLevel decoder turns it into
  std::vector<uint8_t> special;     // id -> added token flagged special
  std::vector<uint8_t> added;       // id -> an added token (special or not: <think>, <tool_call>, ...)
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ids;  // token string -> id
  AddedMatcher raw_added;         // added tokens with normalized=false: matched in the input text
  AddedMatcher normalized_added;  // normalized=true: matched in the NFC-normalised text
  bool nfc = false;
  bool ignore_merges = false;
  uint64_t uid = 0;  // identifies this data in the per-thread word cache
};

// Fills d.bytes (what HF's ByteLevel decoder makes of each token), d.bpe.byte_ids and d.bpe.merges (rank =
// position in `merges`) from d.tokens and d.ids; throws naming `origin` when a byte token or a merge's token
// is missing. Shared by the tokenizer.json and GGUF loaders.
void build_byte_and_merge_tables(TokenizerData& d,
                                 const std::vector<std::pair<std::string, std::string>>& merges,
                                 const std::string& origin);

}  // namespace qwen3::tok
