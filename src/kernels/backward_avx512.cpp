// The backward kernels (backward_impl.h) with 16-float lanes, and the transpose of bf16 tiles in AVX-512.
#include <immintrin.h>

#include "kernels/backward_impl.h"

namespace qwen3::kernels::avx512 {
namespace {

// transpose_tile_bf16_scalar's blocks as 8 x 8 64-bit words (word (kp, rp) holds rows 2rp, 2rp+1 of
// columns 2kp, 2kp+1): B's word (rp, kp) is A's word (kp, rp) with its two middle values swapped.
void transpose_tile_bf16(const uint16_t* tile, int64_t cols, uint16_t* out, int64_t out_stride) {
  const __m512i words = _mm512_setr_epi64(0, 8, 16, 24, 32, 40, 48, 56);
  // bytes 0 1 4 5 2 3 6 7 of every 8 (the shuffle works within 16-byte lanes)
  const long long lo = 0x0706030205040100LL, hi = 0x0F0E0B0A0D0C0908LL;
  const __m512i swap = _mm512_set_epi64(hi, lo, hi, lo, hi, lo, hi, lo);
  for (int64_t kt = 0; kt < cols / 16; ++kt) {
    const long long* a = reinterpret_cast<const long long*>(tile + kt * 256);
    uint16_t* b = out + kt * out_stride;
    for (int rp = 0; rp < 8; ++rp) {
      const __m512i v = _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), 0xff, words, a + rp, 8);
      _mm512_storeu_si512(b + rp * 32, _mm512_shuffle_epi8(v, swap));
    }
  }
}

constexpr BackwardTable table() {
  BackwardTable t = backward_table<16>();
  t.transpose_tile_bf16 = transpose_tile_bf16;
  return t;
}

}  // namespace

const BackwardTable kBackward = table();
}  // namespace qwen3::kernels::avx512
