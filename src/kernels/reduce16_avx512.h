// reduce16 for the AVX-512 kernels: 16 vectors reduced to one whose lane b is the reduction of vector b's 16
// lanes. Four levels: each pairs vectors and takes half of each block's lanes from either (kHalves), so that
// 15 x 3 instructions do what 16 horizontal reductions would, without their dependent chains. Included only
// by *_avx512.cpp files.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace qwen3::kernels::avx512 {
namespace {

alignas(64) const int32_t kHalves[4][2][16] = {
    {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
     {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}},
    {{0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27},
     {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31}},
    {{0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29},
     {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31}},
    {{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30},
     {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}}};
template <class V, class Perm, class Op>
inline V reduce16(V (&v)[16], Perm perm, Op op) {
  for (int level = 0, n = 16; level < 4; ++level, n /= 2) {
    const __m512i lo = _mm512_load_si512(kHalves[level][0]), hi = _mm512_load_si512(kHalves[level][1]);
    for (int k = 0; k < n / 2; ++k)
      v[k] = op(perm(v[2 * k], lo, v[2 * k + 1]), perm(v[2 * k], hi, v[2 * k + 1]));
  }
  return v[0];
}

}  // namespace
}  // namespace qwen3::kernels::avx512
