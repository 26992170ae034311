// AVX-512 (BF16) FP8 E4M3 matmul (matmul_fp8.h): each 64-byte group of a tile (4 columns x 16 rows) is
// turned into two vectors of 16 bf16 pairs in registers and multiplied by the token's bf16 activation pairs
// with vdpbf16ps. The e4m3 -> bf16 conversion is exact: for a normal value the bf16 high byte depends only
// on the sign and the top three exponent bits (a vpshufb of the high nibble) and the low byte is the low
// nibble shifted up; zeros, subnormals (exponent 0) and NaN (0x7f, 0xff) take both bytes from two more
// 16-entry tables, indexed by the low nibble, under a mask. A single token (decode) converts and multiplies
// as it streams; a prompt converts each tile block once into a buffer that every token then reads.
// Tests: tests/kernels/fp8_test.cpp (bitwise equal to the scalar reference).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/matmul_fp8.h"

namespace qwen3::kernels::avx512 {

namespace {

constexpr int R = kTileRows;

struct Tables {
  __m512i hi, sub_hi, sub_lo, low4, sign, x78, x7f;
};

inline __m512i table16(const uint8_t (&t)[16]) {
  return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
}

Tables make_tables() {
  // high byte of a normal value without its sign: (e + 120) >> 1 = 60 + (e >> 1), e >> 1 = high nibble & 7
  static constexpr uint8_t kHi[16] = {60, 61, 62, 63, 64, 65, 66, 67, 60, 61, 62, 63, 64, 65, 66, 67};
  // by the low nibble, for exponent 0 (0 .. 7: zero and m * 2^-9) and NaN (15): core/fp8.h's bf16 bits
  static constexpr uint8_t kSubHi[16] = {0, 59, 59, 59, 60, 60, 60, 60, 0, 0, 0, 0, 0, 0, 0, 0x7f};
  static constexpr uint8_t kSubLo[16] = {0, 0x00, 0x80, 0xc0, 0x00, 0x20, 0x40, 0x60,
                                         0, 0,    0,    0,    0,    0,    0,    0xc0};
  return {table16(kHi),
          table16(kSubHi),
          table16(kSubLo),
          _mm512_set1_epi8(0x0f),
          _mm512_set1_epi8(static_cast<char>(0x80)),
          _mm512_set1_epi8(0x78),
          _mm512_set1_epi8(0x7f)};
}

// 64 e4m3 bytes of a group -> two vectors of 16 bf16 pairs: p = 0 (columns 4g, 4g+1) and p = 1.
inline void convert(const Tables& t, __m512i v, __m512i& p0, __m512i& p1) {
  const __m512i lonib = _mm512_and_si512(v, t.low4);
  const __m512i hinib = _mm512_and_si512(_mm512_srli_epi16(v, 4), t.low4);
  __m512i hi = _mm512_shuffle_epi8(t.hi, hinib);
  __m512i lo = _mm512_slli_epi16(lonib, 4);
  const __mmask64 special =
      _mm512_testn_epi8_mask(v, t.x78) | _mm512_cmpeq_epi8_mask(_mm512_and_si512(v, t.x7f), t.x7f);
  hi = _mm512_mask_shuffle_epi8(hi, special, t.sub_hi, lonib);
  lo = _mm512_mask_shuffle_epi8(lo, special, t.sub_lo, lonib);
  hi = _mm512_ternarylogic_epi32(hi, v, t.sign, 0xf8);  // hi | (v & 0x80)
  p0 = _mm512_unpacklo_epi8(lo, hi);
  p1 = _mm512_unpackhi_epi8(lo, hi);
}

inline __m512bh bh(__m512i v) {
  return reinterpret_cast<__m512bh>(v);
}

inline __m512bh pair_at(const uint16_t* xb, int64_t k) {
  uint32_t pair;
  std::memcpy(&pair, xb + k, 4);
  return bh(_mm512_set1_epi32(static_cast<int>(pair)));
}

// One token: the tile's blocks streamed once, converted as they come.
void tile_decode(const Tables& tb, const uint8_t* tile, int64_t nb, const uint16_t* xb, float* y,
                 int last_rows) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = tile + b * kFp8TileBlock;
    const uint8_t* q = blk + R * 4;
    const uint16_t* x = xb + b * kFp8Block;
    __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int g = 0; g < kFp8Groups; g += 2) {
      for (int h = 0; h < 2; ++h) {
        prefetch_ahead(q + (g + h) * 64);
        __m512i p0, p1;
        convert(tb, _mm512_loadu_si512(q + (g + h) * 64), p0, p1);
        s[2 * h] = _mm512_dpbf16_ps(s[2 * h], bh(p0), pair_at(x, 4 * (g + h)));
        s[2 * h + 1] = _mm512_dpbf16_ps(s[2 * h + 1], bh(p1), pair_at(x, 4 * (g + h) + 2));
      }
    }
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]));
    acc = _mm512_fmadd_ps(sum, _mm512_loadu_ps(reinterpret_cast<const float*>(blk)), acc);
  }
  _mm512_mask_storeu_ps(y, static_cast<__mmask16>((1u << last_rows) - 1), acc);
}

// NT tokens times one converted block of NR tiles (w[r]: 64 vectors, group g's pairs at 2g and 2g + 1) into
// ys[r]. Two tiles share each token's broadcast activation pairs: per group 4 weight vectors and 2 NT pairs
// loaded for 4 NT vdpbf16ps (one tile: 2 + 2 NT for 2 NT, the kernel load-bound at half the bf16 rate).
template <int NR, int NT>
inline void block_tokens(const __m512i* const* w, const uint16_t* xb, int64_t ldxb, const __m512* scale,
                         float* const* ys) {
  __m512 s[NR][4][NT];
  for (int r = 0; r < NR; ++r)
    for (int c = 0; c < 4; ++c)
      for (int t = 0; t < NT; ++t) s[r][c][t] = _mm512_setzero_ps();
  for (int g = 0; g < kFp8Groups; g += 2) {
    for (int h = 0; h < 2; ++h) {
      __m512bh w0[NR], w1[NR];
      for (int r = 0; r < NR; ++r) {
        w0[r] = bh(w[r][2 * (g + h)]);
        w1[r] = bh(w[r][2 * (g + h) + 1]);
      }
      for (int t = 0; t < NT; ++t) {
        const __m512bh x0 = pair_at(xb + t * ldxb, 4 * (g + h)), x1 = pair_at(xb + t * ldxb, 4 * (g + h) + 2);
        for (int r = 0; r < NR; ++r) {
          s[r][2 * h][t] = _mm512_dpbf16_ps(s[r][2 * h][t], w0[r], x0);
          s[r][2 * h + 1][t] = _mm512_dpbf16_ps(s[r][2 * h + 1][t], w1[r], x1);
        }
      }
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) {
      const __m512 sum =
          _mm512_add_ps(_mm512_add_ps(s[r][0][t], s[r][1][t]), _mm512_add_ps(s[r][2][t], s[r][3][t]));
      _mm512_store_ps(ys[r] + 16 * t, _mm512_fmadd_ps(sum, scale[r], _mm512_load_ps(ys[r] + 16 * t)));
    }
}

constexpr int kNT =
    2;  // tokens per register block: 2 tiles x 4 chains x 2 tokens, 16 zmm (3 tokens: 24, slower)
constexpr int64_t kTokBlock = 128;  // tokens whose partial outputs stay in a buffer while a tile streams past

// A prompt: NR tiles from ti, each 128-column block converted once per kTokBlock tokens into wbuf.
template <int NR>
void tiles_prompt(const Tables& tb, const Tensor& w, const MatmulInput& in, int64_t nb, int64_t ti, float* y,
                  int64_t ldy) {
  alignas(64) __m512i wbuf[NR][2 * kFp8Groups];
  alignas(64) float ybuf[NR][kTokBlock * R];
  const __m512i* wp[NR];
  float* yp[NR];
  for (int r = 0; r < NR; ++r) wp[r] = wbuf[r];
  for (int64_t t0 = 0; t0 < in.n_tok; t0 += kTokBlock) {
    const int64_t nt = std::min(kTokBlock, in.n_tok - t0);
    for (int r = 0; r < NR; ++r) std::fill(ybuf[r], ybuf[r] + nt * R, 0.0f);
    const uint16_t* xb = in.xb + t0 * in.ldxb;
    for (int64_t b = 0; b < nb; ++b) {
      __m512 scale[NR];
      for (int r = 0; r < NR; ++r) {
        const uint8_t* blk = w.tile(ti + r) + b * kFp8TileBlock;
        for (int g = 0; g < kFp8Groups; ++g)
          convert(tb, _mm512_loadu_si512(blk + R * 4 + g * 64), wbuf[r][2 * g], wbuf[r][2 * g + 1]);
        scale[r] = _mm512_loadu_ps(reinterpret_cast<const float*>(blk));
      }
      const uint16_t* xk = xb + b * kFp8Block;
      int64_t t = 0;
      for (; t + kNT <= nt; t += kNT) {
        for (int r = 0; r < NR; ++r) yp[r] = ybuf[r] + t * R;
        block_tokens<NR, kNT>(wp, xk + t * in.ldxb, in.ldxb, scale, yp);
      }
      for (; t < nt; ++t) {
        for (int r = 0; r < NR; ++r) yp[r] = ybuf[r] + t * R;
        block_tokens<NR, 1>(wp, xk + t * in.ldxb, in.ldxb, scale, yp);
      }
    }
    for (int r = 0; r < NR; ++r) {
      const int rows = static_cast<int>(std::min<int64_t>(R, w.rows - (ti + r) * R));
      const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1);
      for (int64_t t = 0; t < nt; ++t)
        _mm512_mask_storeu_ps(y + (t0 + t) * ldy + (ti + r) * R, mask, _mm512_load_ps(ybuf[r] + t * R));
    }
  }
}

}  // namespace

void matmul_fp8_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                      int64_t ldy) {
  const Tables tb = make_tables();
  const int64_t nb = (w.cols + kFp8Block - 1) / kFp8Block;
  if (in.n_tok == 1) {
    for (int64_t ti = tile_begin; ti < tile_end; ++ti)
      tile_decode(tb, w.tile(ti), nb, in.xb, y + ti * R,
                  static_cast<int>(std::min<int64_t>(R, w.rows - ti * R)));
    return;
  }
  int64_t ti = tile_begin;
  for (; ti + 2 <= tile_end; ti += 2) tiles_prompt<2>(tb, w, in, nb, ti, y, ldy);
  if (ti < tile_end) tiles_prompt<1>(tb, w, in, nb, ti, y, ldy);
}

}  // namespace qwen3::kernels::avx512
