// Backward kernels for training (src/train): the f32 matrix products of LoRA's forward and backward passes
// and of attention, attention's bf16 products (matmul_bf16_acc, where the base rounds), the gradients of
// RMSNorm, SwiGLU and softmax, plus dx += dy W for a frozen base matrix in any stored dtype.
// Layouts are kernels.h's: activations f32 row-major [n_tok, width] with a leading dimension, matrices
// [rows = out, cols = in] row-major f32 (LoRA A [r, in], B [out, r]).
//
// One definition (backward_impl.h, GCC vector extensions of N lanes) built per ISA: backward_scalar.cpp (4
// lanes, the reference), backward_avx2.cpp (8), backward_avx512.cpp (16). Products and sums of a dot product
// are kept in N lane accumulators reduced at the end, so results differ between ISAs by rounding only;
// the products matmul_nn_acc, matmul_tn_acc and matmul_bf16_acc (one fused multiply-add per term, in order)
// give the same bits on every ISA; AVX-512 overrides matmul_bf16_acc and the tile transposes with
// intrinsics (vdpbf16ps, shuffles) that keep those bits. The wrappers below split work over the pool so that
// each output row is computed by one thread in a fixed order: results do not depend on the thread count.
// Tests: tests/kernels/backward_test.cpp (every ISA against float64 definitions and the scalar table) and
// tests/train/ (gradients against tools/reference/lora_train_ref.py).
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/tensor.h"

namespace qwen3::kernels {

struct BackwardTable {
  // y[t * ldy + j] = sum_k x[t * ldx + k] * w[j * k_in + k]   for t < n, j < m   (y = x W^T)
  void (*matmul_nt)(const float* x, int64_t ldx, int64_t n, const float* w, int64_t k_in, int64_t m, float* y,
                    int64_t ldy);
  // dx[t * lddx + k] += sum_j dy[t * lddy + j] * w[j * ldw + k]   for t < n, j < m, k < k_in  (dx += dy W)
  void (*matmul_nn_acc)(const float* dy, int64_t lddy, int64_t n, int64_t m, const float* w, int64_t ldw,
                        int64_t k_in, float* dx, int64_t lddx);
  // dw[j * lddw + k] += sum_t dy[t * lddy + j] * x[t * ldx + k]   for j in [j0, j1), t < n, k < k_in
  // (dW += dy^T x)
  void (*matmul_tn_acc)(const float* dy, int64_t lddy, int64_t n, int64_t j0, int64_t j1, const float* x,
                        int64_t ldx, int64_t k_in, float* dw, int64_t lddw);
  // The gradient of out = x / sqrt(mean(x^2) + eps) * w (one row of k values) added to dx:
  // g = dy * w, dx += r g - x r^3 sum(g x) / k with r = 1 / sqrt(mean(x^2) + eps).
  void (*rmsnorm_backward)(const float* x, const float* w, const float* dy, int64_t k, float eps, float* dx);
  // h = silu(g) * u: dg = dh * u * s (1 + g (1 - s)), du = dh * g * s with s = sigmoid(g) (written, not
  // added).
  void (*silu_mul_backward)(const float* g, const float* u, const float* dh, int64_t k, float* dg, float* du);
  // sum_i a[i] * b[i] and y[i] += a * x[i] (attention's backward).
  float (*dot)(const float* a, const float* b, int64_t k);
  void (*axpy)(float a, const float* x, float* y, int64_t k);
  // One whole bf16 tile of 16 rows of a matrix (pack.h: element (r, k) at ((k/2)*16 + r)*2 + k%2, cols a
  // multiple of 16) into the bf16 tiles of the transpose (weight_backward's bands): for each 16 columns
  // 16kt.., the 256 values (r, 16kt + c) at out[kt * out_stride + ((r/2)*16 + c)*2 + r%2]. Moves bits only:
  // the same output on every ISA (AVX-512: in-register 8 x 8 transposes of 64-bit words).
  void (*transpose_tile_bf16)(const uint16_t* tile, int64_t cols, uint16_t* out, int64_t out_stride);
  // transpose_tile_bf16 for a whole q8_0 tile of 16 rows (pack.h: per 32 columns, 16 f16 scales, then 8
  // groups of [16 rows][4] bytes q + 128), its values d * (q - 128) rounded to bf16 (f32_to_bf16's bits).
  void (*transpose_tile_q8_0)(const uint8_t* tile, int64_t cols, uint16_t* out, int64_t out_stride);
  // x[i] = exp(x[i] * a - b) for i < k, in place: the softmax numerators of attention and the loss, with
  // elementwise_impl.h's polynomial exp (within ~2 ulp; the same bits on every ISA).
  void (*exp_affine)(float* x, int64_t k, float a, float b);
  // x[i] = c * softmax(a * x)[i] for i < k, in place; returns the log-sum-exp of a * x (attention's rows,
  // with c = 1, and the loss's, with c its scale). exp_affine's exps; the sum's rounding differs between
  // ISAs.
  float (*softmax_affine)(float* x, int64_t k, float a, float c);
  // c[t * ldc + j] += sum_q a[t * lda + q] * b(q, j) for t < n, j < m, q < k (k even: pad both operands with
  // a zero), bf16 operands (round_activations_bf16's values): a's rows as stored, b in pairs along q,
  // b(q, j) = bp[(q / 2) * ldb + 2 * j + q % 2]. Per output and pair p in order, from c's value:
  // c = fma(a[2p+1], b(2p+1, j), c); c = fma(a[2p], b(2p, j), c): AVX-512 BF16's vdpbf16ps step for step
  // (kernels.h), the same bits on every ISA (the products of bf16 values are exact in f32). Attention's
  // products in training where the base rounds its own (train/train_step.cpp).
  void (*matmul_bf16_acc)(const uint16_t* a, int64_t lda, int64_t n, int64_t k, const uint16_t* bp,
                          int64_t ldb, int64_t m, float* c, int64_t ldc);
  // A row of attention's dS from the bf16 probabilities of a pair of rows (32-bit words: the even row's
  // value in the low half, the odd row's in the high half; `odd` picks the row): x[j] = (p_j * (x[j] - dt))
  // * scale for j < n, p_j widened exactly. The same bits on every ISA.
  void (*dsoftmax_pairs)(const uint32_t* pw, int odd, float* x, int64_t n, float dt, float scale);
};

const BackwardTable& backward_table_for(Isa isa);  // throws when the CPU lacks it
const BackwardTable& backward_active();

// The same products over the pool (rows of the output split among threads, each computed whole by one).
void matmul_nt(const float* x, int64_t ldx, int64_t n, const float* w, int64_t k_in, int64_t m, float* y,
               int64_t ldy, ThreadPool* pool);
void matmul_nn_acc(const float* dy, int64_t lddy, int64_t n, int64_t m, const float* w, int64_t ldw,
                   int64_t k_in, float* dx, int64_t lddx, ThreadPool* pool);
void matmul_tn_acc(const float* dy, int64_t lddy, int64_t n, int64_t m, const float* x, int64_t ldx,
                   int64_t k_in, float* dw, int64_t lddw, ThreadPool* pool);
// dx[n, w.cols] += dy[n, w.rows] W for a frozen matrix in its stored dtype. Where the forward product does
// not keep f32 activations (weight_backward_rounds: bf16 with bf16_dot, q8_0, q4_0, k-quants) neither does
// this one, as PyTorch's bf16 autocast and QLoRA (weights dequantised to bf16) do not: dy is rounded to bf16,
// W's values to bf16 (exact for bf16 weights), and W^T, built as bf16 tiles band by band, is multiplied by
// the forward's bf16 kernel (kernels.h's vdpbf16ps arithmetic); a band's product is added to dx as a whole.
// Otherwise (f32, f16, bf16 without bf16_dot) it is exact f32: W's rows are widened a tile of 16 at a time
// and each block of tokens accumulates them in order. Either way the bits do not depend on the thread count.
// add = false: dx = dy W, dx's prior contents ignored (the rounding form then writes the first band's product
// in place: no zeroing, no separate sum).
bool weight_backward_rounds(const Tensor& w);
void weight_backward(const Tensor& w, const float* dy, int64_t n, float* dx, ThreadPool* pool,
                     bool add = true);
// The rounding form of weight_backward with dy already rounded to bf16 by round_activations_bf16's rule
// (the bits weight_backward rounds it to): dyb [n, lddyb], the w.rows values of each row first, lddyb even.
// Only where weight_backward_rounds(w).
void weight_backward_rounded(const Tensor& w, const uint16_t* dyb, int64_t lddyb, int64_t n, float* dx,
                             ThreadPool* pool);

namespace scalar {
extern const BackwardTable kBackward;
}
namespace avx2 {
extern const BackwardTable kBackward;
}
namespace avx512 {
extern const BackwardTable kBackward;
}

}  // namespace qwen3::kernels
