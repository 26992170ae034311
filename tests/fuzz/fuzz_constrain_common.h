// Shared by the constraint engine's fuzz targets: a small byte-level vocabulary (256 one-byte tokens, a few
// longer ones, a special token that is also EOS) and a run of the matcher over the rest of the input, so
// masks and stepping are exercised on whatever compiled. Only qwen3::Error (CompileError included) may
// escape.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "constrain/constrain.h"
#include "core/error.h"

namespace qwen3::fuzz {

inline std::shared_ptr<const constrain::Vocabulary> fuzz_vocab() {
  static const auto v = [] {
    std::vector<std::string> b(256);
    for (int i = 0; i < 256; i++) b[size_t(i)] = std::string(1, char(i));
    for (const char* s : {"\":", "\", \"", "{\"", "true", "\xC3\xA9", "\xE6\x97", "12", "ab"}) b.push_back(s);
    b.push_back("");  // the special token
    std::vector<int32_t> eos = {int32_t(b.size() - 1)};
    return constrain::make_vocabulary(b, {int32_t(b.size() - 1)}, eos);
  }();
  return v;
}

// Steps at most 64 tokens picked by the input bytes among the allowed ones.
inline void fuzz_run(const std::shared_ptr<const constrain::Grammar>& g, const uint8_t* data, size_t size) {
  constrain::Matcher m(g);
  const int32_t n = constrain::vocabulary_size(*fuzz_vocab());
  std::vector<uint32_t> mask((size_t(n) + 31) / 32);
  for (size_t i = 0; i < size && i < 64; i++) {
    m.fill_mask(mask);
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < n; id++)
      if ((mask[size_t(id) >> 5] >> (id & 31)) & 1) allowed.push_back(id);
    if (allowed.empty()) {
      if (!m.is_done() && !m.can_end()) __builtin_trap();  // a live matcher always allows something
      break;
    }
    if (!m.advance(allowed[data[i] % allowed.size()])) __builtin_trap();  // allowed means advance succeeds
  }
}

// One fuzz input: the text up to the first NUL byte is compiled by `compile` (a Builder with bounded rules),
// the bytes after it drive fuzz_run over what compiled. Only qwen3::Error may escape the compiler; it is
// swallowed.
inline int fuzz_one(
    const uint8_t* data, size_t size,
    const std::function<constrain::Builder::Rule(constrain::Builder&, const std::string&)>& compile) {
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  size_t n = nul ? size_t(nul - data) : size;
  std::string text(reinterpret_cast<const char*>(data), n);
  try {
    constrain::Limits limits;
    limits.max_rules = 20000;
    constrain::Builder b(fuzz_vocab(), limits);
    auto g = b.build(compile(b, text));
    fuzz_run(g, data + n, size - n);
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace qwen3::fuzz
