// The compute kernels the forward pass calls. Each entry dispatches once (at first use) to the best
// implementation the CPU supports; QWEN3_ISA=scalar|avx2|avx512 forces one. The scalar kernels in
// kernels_scalar.cpp are the reference every faster kernel is tested against (tests/kernels/).
//
// Layouts: activations are f32, row-major [n_tok, n]; a weight matrix W is [n_out, n_in] in its stored dtype
// (see model/tensor.h). Every output element of matmul is computed by one thread with a reduction order that
// does not depend on n_tok or on the thread count, so batched and one-by-one evaluation agree bit for bit.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "model/tensor.h"

namespace qwen3::kernels {

enum class Isa { kScalar, kAvx2, kAvx512 };
const char* isa_name(Isa isa);
// The ISA in use: the best the CPU has, or QWEN3_ISA's choice (an unavailable choice is an error).
Isa active_isa();
// Every ISA this CPU can run, scalar first (for tests that compare them).
bool isa_supported(Isa isa);

// One ISA's kernels. Row-range kernels compute output rows [row_begin, row_end) so callers can split work.
struct KernelTable {
  // y[t * ldy + o] = sum_i W[o, i] * x[t * w.cols + i]   for t < n_tok, row_begin <= o < row_end
  void (*matmul_rows)(const Tensor& w, int64_t row_begin, int64_t row_end, const float* x, int64_t n_tok,
                      float* y, int64_t ldy);
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  // y[i] += a * x[i]
  void (*axpy_f32)(float a, const float* x, float* y, int64_t n);
};

const KernelTable& table_for(Isa isa);  // throws when the CPU lacks it
const KernelTable& active();

// y = x W^T over the pool: [n_tok, w.cols] x [w.rows, w.cols]^T -> [n_tok, w.rows] (ldy = w.rows).
void matmul(const Tensor& w, const float* x, int64_t n_tok, float* y, ThreadPool* pool);

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]   (Qwen3RMSNorm in f32)
void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// NEOX-style rotate-half RoPE on one head: x[i], x[i + d/2] rotated by angle i (cos/sin tables [d/2]).
void rope_neox(float* x, const float* cos, const float* sin, int head_dim);

// out[i] = silu(gate[i]) * up[i]
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// Dequantises/widens one weight row to f32 (embedding lookup).
void row_to_f32(const Tensor& w, int64_t row, float* out);

// In-place softmax over n values (max-subtracted, f32).
void softmax(float* x, int64_t n);

// Scalar reference versions, exported for tests.
namespace scalar {
extern const KernelTable kTable;
}

}  // namespace qwen3::kernels
