// The Split pre-tokenizer of Qwen2/Qwen3 tokenizer.json files, hand-written instead of a regex engine. It
// matches
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
//   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// with Oniguruma's semantics (leftmost match, first alternative that matches, greedy with backtracking) and
// behaviour "Isolated": every match is one piece. The alternatives cover every code point, so there are no
// gaps.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace qwen3::tok {

// The pattern string, exactly as tokenizer.json states it; any other pattern is rejected at load.
inline constexpr std::string_view kQwen2SplitPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";

// Appends the end offset (in bytes) of each piece of `text` (valid UTF-8) to `ends`.
void split_qwen2(std::string_view text, std::vector<uint32_t>& ends);

}  // namespace qwen3::tok
