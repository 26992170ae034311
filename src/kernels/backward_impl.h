// The backward kernels of backward.h, N float lanes at a time in GCC/clang vector extensions: one definition,
// included by backward_<isa>.cpp (scalar N = 4, AVX2 8, AVX-512 16). The anonymous namespace keeps each
// file's instantiations its own.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"
#include "core/half.h"
#include "kernels/backward.h"
#include "kernels/elementwise_impl.h"

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

namespace qwen3::kernels {
namespace {

// a * b + c rounded once in every lane of a vector of floats: the ISA's FMA instruction, or std::fma lane by
// lane where the file's flags have none (the scalar reference): the same bits either way. (Templates on the
// vector type itself: GCC resolves a vector_size that depends on a template parameter only at instantiation.)
template <typename V>
V vfma(V a, V b, V c) {
  constexpr int n = sizeof(V) / sizeof(float);
#if defined(__AVX512F__)
  if constexpr (n == 16) return (V)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#endif
#if defined(__FMA__)
  if constexpr (n == 8) return (V)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#endif
  float x[n], y[n], z[n];
  std::memcpy(x, &a, sizeof a);
  std::memcpy(y, &b, sizeof b);
  std::memcpy(z, &c, sizeof c);
  for (int i = 0; i < n; ++i) x[i] = std::fma(x[i], y[i], z[i]);
  std::memcpy(&a, x, sizeof a);
  return a;
}

template <typename V>
V vsplat(float g) {
  float x[sizeof(V) / sizeof(float)];
  for (float& v : x) v = g;
  V v;
  std::memcpy(&v, x, sizeof v);
  return v;
}

template <int N>
struct BLanes {
  typedef float F __attribute__((vector_size(4 * N)));
  static F load(const float* p) {
    F v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, F v) { std::memcpy(p, &v, sizeof v); }
  static float sum(F v) {
    float a[N];
    std::memcpy(a, &v, sizeof a);
    float s = 0;
    for (int i = 0; i < N; ++i) s += a[i];
    return s;
  }
};

template <int N>
float dot_lanes(const float* a, const float* b, int64_t k) {
  using L = BLanes<N>;
  typename L::F acc0{}, acc1{};
  int64_t i = 0;
  for (; i + 2 * N <= k; i += 2 * N) {
    acc0 += L::load(a + i) * L::load(b + i);
    acc1 += L::load(a + i + N) * L::load(b + i + N);
  }
  for (; i + N <= k; i += N) acc0 += L::load(a + i) * L::load(b + i);
  float s = L::sum(acc0 + acc1);
  for (; i < k; ++i) s += a[i] * b[i];
  return s;
}

template <int N>
void axpy_lanes(float a, const float* x, float* y, int64_t k) {
  using L = BLanes<N>;
  int64_t i = 0;
  for (; i + N <= k; i += N) L::store(y + i, L::load(y + i) + L::load(x + i) * a);
  for (; i < k; ++i) y[i] += x[i] * a;
}

template <int N>
void matmul_nt_lanes(const float* x, int64_t ldx, int64_t n, const float* w, int64_t k_in, int64_t m,
                     float* y, int64_t ldy) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < m; ++j) y[t * ldy + j] = dot_lanes<N>(x + t * ldx, w + j * k_in, k_in);
}

// R rows of two N-float vectors of C, from column i, into registers and back (the register blocks below).
template <int N, int R>
__attribute__((always_inline)) inline void load_rows2(const float* c, int64_t ldc, int64_t i,
                                                      typename BLanes<N>::F (&a0)[R],
                                                      typename BLanes<N>::F (&a1)[R]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    a0[r] = BLanes<N>::load(c + r * ldc + i);
    a1[r] = BLanes<N>::load(c + r * ldc + i + N);
  }
}
template <int N, int R>
__attribute__((always_inline)) inline void store_rows2(float* c, int64_t ldc, int64_t i,
                                                       const typename BLanes<N>::F (&a0)[R],
                                                       const typename BLanes<N>::F (&a1)[R]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    BLanes<N>::store(c + r * ldc + i, a0[r]);
    BLanes<N>::store(c + r * ldc + i + N, a1[r]);
  }
}

// C[r, k] += sum_j A(r, j) B[j, k] for r < R, j < m ascending, k < k_in, with A(r, j) = a[r * sr + j * sj],
// B's row j at b + j * ldb and C's row r at c + r * ldc: R rows x 2 vectors of C in registers over the whole
// j loop (B's strip read once per block). Each element is one fused multiply-add (one rounding) per j in j
// order, in every lane width and in the scalar tail: the same bits on every ISA.
template <int N, int R>
void gemm_rows(const float* a, int64_t sr, int64_t sj, int64_t m, const float* b, int64_t ldb, int64_t k_in,
               float* c, int64_t ldc) {
  using L = BLanes<N>;
  using F = typename L::F;
  int64_t i = 0;
  for (; i + 2 * N <= k_in; i += 2 * N) {
    F acc0[R], acc1[R];
    load_rows2<N, R>(c, ldc, i, acc0, acc1);
    for (int64_t j = 0; j < m; ++j) {
      const F b0 = L::load(b + j * ldb + i), b1 = L::load(b + j * ldb + i + N);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const F g = vsplat<F>(a[r * sr + j * sj]);
        acc0[r] = vfma(b0, g, acc0[r]);
        acc1[r] = vfma(b1, g, acc1[r]);
      }
    }
    store_rows2<N, R>(c, ldc, i, acc0, acc1);
  }
  for (; i + N <= k_in; i += N) {
    F acc[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[r] = L::load(c + r * ldc + i);
    for (int64_t j = 0; j < m; ++j) {
      const F b0 = L::load(b + j * ldb + i);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r] = vfma(b0, vsplat<F>(a[r * sr + j * sj]), acc[r]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) L::store(c + r * ldc + i, acc[r]);
  }
  for (; i < k_in; ++i)
    for (int r = 0; r < R; ++r) {
      float acc = c[r * ldc + i];
      for (int64_t j = 0; j < m; ++j) acc = std::fma(b[j * ldb + i], a[r * sr + j * sj], acc);
      c[r * ldc + i] = acc;
    }
}

template <int N>
void gemm_acc(const float* a, int64_t sr, int64_t sj, int64_t rows, int64_t m, const float* b, int64_t ldb,
              int64_t k_in, float* c, int64_t ldc) {
  int64_t r = 0;
  for (; r + 8 <= rows; r += 8) gemm_rows<N, 8>(a + r * sr, sr, sj, m, b, ldb, k_in, c + r * ldc, ldc);
  for (; r + 4 <= rows; r += 4) gemm_rows<N, 4>(a + r * sr, sr, sj, m, b, ldb, k_in, c + r * ldc, ldc);
  for (; r < rows; ++r) gemm_rows<N, 1>(a + r * sr, sr, sj, m, b, ldb, k_in, c + r * ldc, ldc);
}

// dx += dy W: C = dx, A = dy (rows t), B = W.
template <int N>
void matmul_nn_acc_lanes(const float* dy, int64_t lddy, int64_t n, int64_t m, const float* w, int64_t ldw,
                         int64_t k_in, float* dx, int64_t lddx) {
  gemm_acc<N>(dy, lddy, 1, n, m, w, ldw, k_in, dx, lddx);
}

// dW[j0, j1) += dy^T x: C = dW's rows, A = dy^T (A(j, t) = dy[t * lddy + j]), B = x (rows t).
template <int N>
void matmul_tn_acc_lanes(const float* dy, int64_t lddy, int64_t n, int64_t j0, int64_t j1, const float* x,
                         int64_t ldx, int64_t k_in, float* dw, int64_t lddw) {
  gemm_acc<N>(dy + j0, 1, lddy, j1 - j0, n, x, ldx, k_in, dw + j0 * lddw, lddw);
}

template <int N>
void rmsnorm_backward_lanes(const float* x, const float* w, const float* dy, int64_t k, float eps,
                            float* dx) {
  double ss = 0, gx = 0;  // the two row sums in double: they set every element's correction
  for (int64_t i = 0; i < k; ++i) {
    ss += static_cast<double>(x[i]) * x[i];
    gx += static_cast<double>(dy[i]) * w[i] * x[i];
  }
  const double r = 1.0 / std::sqrt(ss / static_cast<double>(k) + eps);
  const float rf = static_cast<float>(r), c = static_cast<float>(r * r * r * gx / static_cast<double>(k));
  using L = BLanes<N>;
  int64_t i = 0;
  for (; i + N <= k; i += N)
    L::store(dx + i, L::load(dx + i) + (L::load(dy + i) * L::load(w + i) * rf - L::load(x + i) * c));
  for (; i < k; ++i) dx[i] += dy[i] * w[i] * rf - x[i] * c;
}

template <int N>
void silu_mul_backward_lanes(const float* g, const float* u, const float* dh, int64_t k, float* dg,
                             float* du) {
  for (int64_t i = 0; i < k; ++i) {
    const float s = 1.0f / (1.0f + std::exp(-g[i]));
    du[i] = dh[i] * g[i] * s;
    dg[i] = dh[i] * u[i] * (s * (1.0f + g[i] * (1.0f - s)));
  }
}

// Block kt of the tile holds A[kp*32 + rp*4 + f*2 + e] = (row 2rp + f, column 16kt + 2kp + e); its transpose
// B[rp*32 + kp*4 + e*2 + f] takes the same value (kp, rp < 8; e, f < 2).
inline void transpose_tile_bf16_scalar(const uint16_t* tile, int64_t cols, uint16_t* out,
                                       int64_t out_stride) {
  for (int64_t kt = 0; kt < cols / 16; ++kt) {
    const uint16_t* a = tile + kt * 256;
    uint16_t* b = out + kt * out_stride;
    for (int kp = 0; kp < 8; ++kp)
      for (int rp = 0; rp < 8; ++rp)
        for (int f = 0; f < 2; ++f)
          for (int e = 0; e < 2; ++e) b[rp * 32 + kp * 4 + e * 2 + f] = a[kp * 32 + rp * 4 + f * 2 + e];
  }
}

inline void transpose_tile_q8_0_scalar(const uint8_t* tile, int64_t cols, uint16_t* out, int64_t out_stride) {
  for (int64_t kb = 0; kb < cols / kQuantBlock; ++kb) {
    const uint8_t* blk = tile + kb * 16 * sizeof(BlockQ8_0);
    float d[16];
    for (int r = 0; r < 16; ++r) {
      uint16_t h;
      std::memcpy(&h, blk + 2 * r, 2);
      d[r] = f16_to_f32(h);
    }
    for (int64_t j = 0; j < kQuantBlock; ++j) {
      const int64_t k = kb * kQuantBlock + j;
      uint16_t* o = out + (k / 16) * out_stride + (k % 16) * 2;
      const uint8_t* src = blk + 32 + (j / 4) * 64 + j % 4;
      for (int r = 0; r < 16; ++r) o[(r / 2) * 32 + (r & 1)] = f32_to_bf16(d[r] * (src[r * 4] - 128));
    }
  }
}

template <int N>
void exp_affine_lanes(float* x, int64_t k, float a, float b) {
  using L = Lanes<N>;
  typename L::F v;
  int64_t i = 0;
  for (; i + N <= k; i += N) {
    std::memcpy(&v, x + i, sizeof v);
    v = L::exp(v * a - b);
    std::memcpy(x + i, &v, sizeof v);
  }
  if (i < k) {  // the same operations on a zero-padded vector
    v = typename L::F{};
    std::memcpy(&v, x + i, (k - i) * sizeof(float));
    v = L::exp(v * a - b);
    std::memcpy(x + i, &v, (k - i) * sizeof(float));
  }
}

// x[i] = c * exp(a * x[i] - m) / s for i < k with m = max_i(a * x[i]) and s the sum of the exps; returns
// m + log(s), the log-sum-exp of a * x. The exps are exp_affine's (the same bits on every ISA); s is summed
// in N float lanes per block of kSoftmaxBlock values and the blocks in double, so ISAs differ by its
// rounding.
constexpr int64_t kSoftmaxBlock = 1024;
template <int N>
float softmax_affine_lanes(float* x, int64_t k, float a, float c) {
  using L = BLanes<N>;
  using F = typename L::F;
  F mv = vsplat<F>(-INFINITY);
  int64_t i = 0;
  for (; i + N <= k; i += N) {
    const F v = L::load(x + i) * a;
    mv = v > mv ? v : mv;
  }
  float m[N];
  std::memcpy(m, &mv, sizeof m);
  float mx = -INFINITY;
  for (int l = 0; l < N; ++l) mx = std::max(mx, m[l]);
  for (; i < k; ++i) mx = std::max(mx, x[i] * a);
  exp_affine_lanes<N>(x, k, a, mx);
  double s = 0;
  for (int64_t b = 0; b < k; b += kSoftmaxBlock) {
    const int64_t e = std::min(k, b + kSoftmaxBlock);
    F acc{};
    int64_t j = b;
    for (; j + N <= e; j += N) acc += L::load(x + j);
    float bs = L::sum(acc);
    for (; j < e; ++j) bs += x[j];
    s += bs;
  }
  const float inv = static_cast<float>(c / s);
  i = 0;
  for (; i + N <= k; i += N) L::store(x + i, L::load(x + i) * inv);
  for (; i < k; ++i) x[i] *= inv;
  return mx + static_cast<float>(std::log(s));
}

// matmul_bf16_acc (backward.h) for R rows of a and c and the columns [j, j + 2N): each 32-bit word of bp is a
// column's pair (even value in the low half), so the even values are the words shifted up by 16 bits and the
// odd ones the words with their low half cleared (bf16 widens to f32 exactly).
template <int N, int R>
void bf16_rows(const uint16_t* a, int64_t lda, int64_t k, const uint16_t* bp, int64_t ldb, int64_t j,
               float* c, int64_t ldc) {
  using L = BLanes<N>;
  using F = typename L::F;
  typedef uint32_t U __attribute__((vector_size(4 * N)));
  U high{};
  high += 0xffff0000u;
  F acc0[R], acc1[R];
  load_rows2<N, R>(c, ldc, j, acc0, acc1);
  for (int64_t p = 0; p < k / 2; ++p) {
    U w0, w1;
    std::memcpy(&w0, bp + p * ldb + 2 * j, sizeof w0);
    std::memcpy(&w1, bp + p * ldb + 2 * (j + N), sizeof w1);
    const F odd0 = (F)(w0 & high), even0 = (F)(w0 << 16), odd1 = (F)(w1 & high), even1 = (F)(w1 << 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const F ao = vsplat<F>(bf16_to_f32(a[r * lda + 2 * p + 1])),
              ae = vsplat<F>(bf16_to_f32(a[r * lda + 2 * p]));
      acc0[r] = vfma(odd0, ao, acc0[r]);
      acc1[r] = vfma(odd1, ao, acc1[r]);
      acc0[r] = vfma(even0, ae, acc0[r]);
      acc1[r] = vfma(even1, ae, acc1[r]);
    }
  }
  store_rows2<N, R>(c, ldc, j, acc0, acc1);
}

template <int N>
void matmul_bf16_acc_lanes(const uint16_t* a, int64_t lda, int64_t n, int64_t k, const uint16_t* bp,
                           int64_t ldb, int64_t m, float* c, int64_t ldc) {
  int64_t j = 0;
  for (; j + 2 * N <= m; j += 2 * N) {
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) bf16_rows<N, 4>(a + t * lda, lda, k, bp, ldb, j, c + t * ldc, ldc);
    for (; t < n; ++t) bf16_rows<N, 1>(a + t * lda, lda, k, bp, ldb, j, c + t * ldc, ldc);
  }
  for (; j < m; ++j)  // the last columns one at a time, the same steps
    for (int64_t t = 0; t < n; ++t) {
      float acc = c[t * ldc + j];
      for (int64_t p = 0; p < k / 2; ++p) {
        acc = std::fma(bf16_to_f32(a[t * lda + 2 * p + 1]), bf16_to_f32(bp[p * ldb + 2 * j + 1]), acc);
        acc = std::fma(bf16_to_f32(a[t * lda + 2 * p]), bf16_to_f32(bp[p * ldb + 2 * j]), acc);
      }
      c[t * ldc + j] = acc;
    }
}

template <int N>
void dsoftmax_pairs_lanes(const uint32_t* pw, int odd, float* x, int64_t n, float dt, float scale) {
  using L = BLanes<N>;
  using F = typename L::F;
  typedef uint32_t U __attribute__((vector_size(4 * N)));
  int64_t j = 0;
  for (; j + N <= n; j += N) {
    U w;
    std::memcpy(&w, pw + j, sizeof w);
    const F p = odd ? (F)(w & 0xffff0000u) : (F)(w << 16);
    L::store(x + j, p * (L::load(x + j) - dt) * scale);
  }
  for (; j < n; ++j) {
    const uint32_t bits = odd ? pw[j] & 0xffff0000u : pw[j] << 16;
    float p;
    std::memcpy(&p, &bits, 4);
    x[j] = p * (x[j] - dt) * scale;
  }
}

template <int N>
constexpr BackwardTable backward_table() {
  return BackwardTable{
      matmul_nt_lanes<N>,         matmul_nn_acc_lanes<N>, matmul_tn_acc_lanes<N>,  rmsnorm_backward_lanes<N>,
      silu_mul_backward_lanes<N>, dot_lanes<N>,           axpy_lanes<N>,           transpose_tile_bf16_scalar,
      transpose_tile_q8_0_scalar, exp_affine_lanes<N>,    softmax_affine_lanes<N>, matmul_bf16_acc_lanes<N>,
      dsoftmax_pairs_lanes<N>};
}

}  // namespace
}  // namespace qwen3::kernels
