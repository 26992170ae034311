// The compute kernels the forward pass calls. The ISA is chosen once (at first use) from CPUID: the best the
// CPU has, or QWEN3_ISA=scalar|avx2|avx512. The scalar kernels in kernels_scalar.cpp are the reference every
// faster kernel is tested against (tests/kernels/).
//
// Layouts: activations are f32, row-major [n_tok, n]; a weight matrix W is [n_out, n_in] in its dtype,
// repacked at load into tiles of 16 rows (kernels/pack.h). matmul's arithmetic is defined per output element
// and is the same for every ISA:
//   f32/f16/bf16 weights: y = fma(w[k], x[k], y) for k = 0, 1, ..., n_in-1 in that order, from y = 0;
//   bf16 weights with Tensor::bf16_dot (the default at load, model.h): x is rounded to bf16 (nearest even;
//                         |x| < 2^-126 flushed to zero), as the bf16 matmuls of transformers and llama.cpp
//                         do; then per column pair p = 0, 1, ... (an odd n_in padded with a zero pair half)
//                         y = fma(w[2p+1], xb[2p+1], y); y = fma(w[2p], xb[2p], y) from y = 0: exactly what
//                         AVX-512 BF16's vdpbf16ps computes (odd product first, each step rounded once; the
//                         tests check it bit for bit against the instruction). bf16 weights below 2^-126 are
//                         flushed to zero when packed, as vdpbf16ps would read them;
//   q8_0/q4_0 weights:    x is quantised per 32-block to int8 (scale amax/127, round to nearest even); per
//   block
//                         b in order, y = fma(float(sum_j wq[j]*xq[j]), d_w[b] * d_x[b], y), the integer sum
//                         being exact.
// So a row's value does not depend on n_tok, on the other tokens of the batch, on the thread count, or on the
// ISA (the SIMD kernels keep one accumulator lane per (row, token) and never reduce across lanes).
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/tensor.h"

namespace qwen3::kernels {

enum class Isa { kScalar, kAvx2, kAvx512 };
const char* isa_name(Isa isa);
// The ISA in use: the best the CPU has, or QWEN3_ISA's choice (an unavailable choice is an error).
Isa active_isa();
// Whether this CPU can run the ISA's kernels (scalar always).
bool isa_supported(Isa isa);

// Activations of one matmul call. For q8_0/q4_0 weights the kernels read the quantised form: xq [n_tok, n_in]
// int8, xd [n_tok, n_in/32] block scales and xc [n_tok, n_in/32] = -offset * (block sum of xq), the stored
// weight offset's share of each block's integer dot product (offset 128 for q8_0, 8 for q4_0), which seeds
// the SIMD kernels' int32 sums. For bf16 weights with bf16_dot they read xb [n_tok, ldxb] bf16 (ldxb = n_in
// rounded up to even, the pad zero); xb == nullptr selects the exact f32 path.
struct MatmulInput {
  const float* x = nullptr;  // [n_tok, ldx]
  int64_t ldx = 0;
  int64_t n_tok = 0;
  const uint16_t* xb = nullptr;
  int64_t ldxb = 0;
  const int8_t* xq = nullptr;
  const float* xd = nullptr;
  const int32_t* xc = nullptr;
};

// Decode (a single token) reads each weight byte once, tile after tile: one sequential stream per thread,
// which the SIMD kernels ask for this far ahead of their loads. The hardware prefetcher alone keeps too few
// lines in flight for the bandwidth (AVX-512, 2 threads, a 350 MB matrix, alternating in one process:
// q4_0 68 GB/s without, 79-82 at 6-12 KiB ahead, 67 at 1.5 KiB; bf16 71 -> 82; q8_0 73 -> 77).
constexpr int kDecodePrefetch = 8192;
__attribute__((always_inline)) inline void prefetch_ahead(const uint8_t* p) {
  __builtin_prefetch(p + kDecodePrefetch);
}

// One ISA's kernels.
struct KernelTable {
  // y[t * ldy + o] for t < n_tok and rows o of tiles [tile_begin, tile_end) of the tiled matrix w.
  void (*matmul_tiles)(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                       int64_t ldy);
  // h[t * ldh + o] = silu(gate) * up of the same (t, o) (silu_mul's bits), rows o of tiles [tile_begin,
  // tile_end) of gate and up (the same shape and dtype), each pair of tiles one register block: the MLP's
  // gate and up projections without storing either. nullptr where the ISA has none (matmul_gate_up_silu
  // then runs both and silu_mul).
  void (*matmul_silu_tiles)(const Tensor& gate, const Tensor& up, const MatmulInput& in, int64_t tile_begin,
                            int64_t tile_end, float* h, int64_t ldh);
  // out[i] = x[i] rounded to bf16 for the bf16 kernels (round_activations_bf16's rule), i < n.
  void (*round_bf16)(const float* x, int64_t n, uint16_t* out);
  // out[i] = x[i] as IEEE f16, nearest even (f32_to_f16's bits; F16C where the ISA has it), i < n.
  void (*to_f16)(const float* x, int64_t n, uint16_t* out);
  // Weight quantisation at load (pack.h's quantize_row_q8_0, the scalar reference): the same bytes on every
  // ISA; the SIMD forms make a --dtype q8_0 load of the 0.6B model take a fraction of a second.
  void (*quantize_row_q8_0)(const float* x, int64_t n, BlockQ8_0* out);
  // One row of n activations quantised for the q8_0/q4_0 kernels: quantize_activations' bits.
  void (*quantize_act)(const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xs);
  // One row of n activations quantised for the k-quant kernels: quantize_activations_k's bits (quant_k.h).
  void (*quantize_act_k)(const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xs);
  // out[i] = silu(gate[i]) * up[i] with a polynomial exp (elementwise_impl.h): the same bits on every ISA.
  void (*silu_mul)(const float* gate, const float* up, int64_t n, float* out);
  // rmsnorm and rope_neox below (elementwise_impl.h): the same bits on every ISA.
  void (*rmsnorm)(const float* x, const float* weight, int64_t n, float eps, float* out);
  void (*rope_neox)(float* x, const float* cos, const float* sin, int head_dim);
  // x[i] += y[i], i < n
  void (*add)(float* x, const float* y, int64_t n);
  // x[i] += s * y[i], i < n: the product rounded, then the sum, as the plain loop (LoRA's deltas)
  void (*add_scaled)(float* x, const float* y, float s, int64_t n);
};

const KernelTable& table_for(Isa isa);  // throws when the CPU lacks it
const KernelTable& active();

// y = x W^T over the pool: [n_tok, w.cols] x [w.rows, w.cols]^T -> [n_tok, w.rows] (ldy = w.rows). w must be
// tiled (pack.h).
void matmul(const Tensor& w, const float* x, int64_t n_tok, float* y, ThreadPool* pool);
// ys[i] = x ws[i]^T for matrices that share their input (q/k/v, gate/up): the activations are quantised or
// rounded once and one parallel_for covers every tile of every matrix, so a decode step pays one barrier
// instead of one per matrix. Each output is the same bits as matmul() gives.
void matmul_shared_input(const Tensor* const* ws, float* const* ys, int n_mat, const float* x, int64_t n_tok,
                         ThreadPool* pool);
// For a producer that writes a matmul's input in the converted form directly (attention writes o_proj's):
// whether w's kernels read int8 activations (q8_0/q4_0 weights); one row segment of n values (a multiple of
// 32, starting on a block boundary) in that form (MatmulInput: int8 values, block scales, and the
// corrections -offset * block sum for w's dtype), prepare_input's bits; and y = x W^T from such an input.
bool reads_int8_input(const Tensor& w);
void quantize_input_row(DType w, const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xc);
void matmul_prepared(const Tensor& w, const MatmulInput& in, float* y, ThreadPool* pool);
// matmul_shared_input's form of it: matrices of one dtype and width sharing a prepared input.
void matmul_shared_prepared(const Tensor* const* ws, float* const* ys, int n_mat, const MatmulInput& in,
                            ThreadPool* pool);
// n_tok rows of x [n_tok, w.cols] in the form w's kernels read (MatmulInput), with the active ISA: for a
// caller that runs KernelTable::matmul_tiles itself (model/lora_apply.cpp). The buffers are the calling
// thread's, valid until its next call; workers may read them.
MatmulInput prepare_input(const Tensor& w, const float* x, int64_t n_tok, ThreadPool* pool);
// How many parallel_for chunks per thread the matmuls split their tiles into for n_tok rows (kernels.cpp).
int matmul_chunks_per_thread(int64_t n_tok);
// The MLP's h = silu(x gate^T) * (x up^T) for a prompt ([n_tok, gate.rows] into h): where the ISA has
// matmul_silu_tiles (AVX-512), gate and up are computed side by side and only h is stored; otherwise both are
// computed (up into up_buf [n_tok, up.rows]) and combined by silu_mul. The same bits either way, and as
// matmul_shared_input then silu_mul. gate and up: one dtype and shape. The second form takes an input already
// prepared (matmul_shared_prepared's).
void matmul_gate_up_silu(const Tensor& gate, const Tensor& up, const float* x, int64_t n_tok, float* h,
                         float* up_buf, ThreadPool* pool);
void matmul_gate_up_silu_prepared(const Tensor& gate, const Tensor& up, const MatmulInput& in, float* h,
                                  float* up_buf, ThreadPool* pool);
// The first form with a chosen kernel table (tests).
void matmul_gate_up_silu_with(const KernelTable& k, const Tensor& gate, const Tensor& up, const float* x,
                              int64_t n_tok, float* h, float* up_buf, ThreadPool* pool);
// The same with a chosen kernel table and output stride (tests, benchmarks).
void matmul_with(const KernelTable& k, const Tensor& w, const float* x, int64_t n_tok, float* y, int64_t ldy,
                 ThreadPool* pool);

// Quantises n_tok rows of n values (n a multiple of 32) for the q8_0/q4_0 kernels (see MatmulInput). The
// same code for every ISA, so every ISA sees the same integers.
void quantize_activations(const float* x, int64_t n_tok, int64_t n, int8_t* xq, float* xd, int32_t* xs);

// Rounds n_tok rows of n values to bf16 for the bf16 kernels (see MatmulInput): xb [n_tok, n + n % 2].
// Nearest even; |x| < 2^-126 becomes a signed zero (as vdpbf16ps reads it); NaN stays NaN. The scalar
// rule; each ISA's KernelTable::round_bf16 gives the same bits.
void round_activations_bf16(const KernelTable& k, const float* x, int64_t n_tok, int64_t n, uint16_t* xb);

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]   (Qwen3RMSNorm in f32)
void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// NEOX-style rotate-half RoPE on one head: x[i], x[i + d/2] rotated by angle i (cos/sin tables [d/2]).
void rope_neox(float* x, const float* cos, const float* sin, int head_dim);

// x[i] += y[i] (the active ISA's KernelTable::add)
void add(float* x, const float* y, int64_t n);

// out[i] = silu(gate[i]) * up[i] (the active ISA's KernelTable::silu_mul)
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// Dequantises/widens one weight row to f32 (embedding lookup); row-major or tiled.
void row_to_f32(const Tensor& w, int64_t row, float* out);

// In-place softmax over n values (max-subtracted, f32).
void softmax(float* x, int64_t n);

namespace scalar {
extern const KernelTable kTable;
void round_bf16(const float* x, int64_t n, uint16_t* out);
void to_f16(const float* x, int64_t n, uint16_t* out);
void quantize_act(const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xs);
}  // namespace scalar
namespace avx2 {
extern const KernelTable kTable;
}
namespace avx512 {
extern const KernelTable kTable;
}

}  // namespace qwen3::kernels
