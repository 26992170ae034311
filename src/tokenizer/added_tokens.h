// Added tokens (<|im_start|>, <think>, ...): finding them in text before anything else, as HF tokenizers'
// AddedVocabulary does with its Aho-Corasick automaton (leftmost-longest, non-overlapping), including the
// single_word / lstrip / rstrip flags.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false, normalized = false, lstrip = false, rstrip = false, single_word = false;
};

// A piece of text: either an added token (id >= 0) or plain text to be encoded (id == -1). Offsets in bytes.
struct Segment {
  size_t begin, end;
  int32_t id;
};

class AddedMatcher {
 public:
  // skip_special: HF's encode_special_tokens (transformers' split_special_tokens): special tokens are found
  // but their text is then encoded as plain text.
  AddedMatcher(std::vector<AddedToken> tokens, bool skip_special);
  AddedMatcher() = default;
  bool empty() const { return tokens_.empty(); }

  // Splits text into segments. mask (optional, one byte per text byte): a token may only match where every
  // byte of its match is non-zero there; elsewhere it is treated as if it were not in the vocabulary.
  void split(std::string_view text, const uint8_t* mask, std::vector<Segment>& out) const;

 private:
  std::vector<AddedToken> tokens_;               // sorted by length, longest first
  std::vector<std::vector<uint16_t>> by_first_;  // first byte -> indices into tokens_
  bool skip_special_ = false;
};

}  // namespace qwen3::tok
