// Scalar reference kernels: the definition of what every SIMD kernel must compute, the fallback on CPUs
// without AVX2, and the tail loops. Written with fixed 8-lane partial sums so that the compiler can use SSE
// and so that the summation order is the same whatever the batch size. Covered by tests/kernels/.
#include <cstring>
#include <vector>

#include "core/half.h"
#include "kernels/kernels.h"

namespace qwen3::kernels::scalar {

static float dot_f32(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

static void axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// Converts one weight row to f32 (dequantising block formats).
void row_to_f32_impl(const Tensor& w, int64_t r, float* out) {
  const uint8_t* row = w.row(r);
  int64_t n = w.cols;
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, row, n * 4);
      break;
    case DType::kF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(row);
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(p[i]);
      break;
    }
    case DType::kBF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(row);
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(p[i]);
      break;
    }
    case DType::kQ8_0: {
      const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row);
      for (int64_t k = 0; k < n / kQuantBlock; ++k) {
        float d = f16_to_f32(b[k].scale);
        for (int j = 0; j < kQuantBlock; ++j) out[k * kQuantBlock + j] = d * b[k].q[j];
      }
      break;
    }
    case DType::kQ4_0: {
      const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(row);
      for (int64_t k = 0; k < n / kQuantBlock; ++k) {
        float d = f16_to_f32(b[k].scale);
        for (int j = 0; j < kQuantBlock / 2; ++j) {
          out[k * kQuantBlock + j] = d * ((b[k].q[j] & 0x0f) - 8);
          out[k * kQuantBlock + j + kQuantBlock / 2] = d * ((b[k].q[j] >> 4) - 8);
        }
      }
      break;
    }
  }
}

static void matmul_rows(const Tensor& w, int64_t row_begin, int64_t row_end, const float* x, int64_t n_tok,
                        float* y, int64_t ldy) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(w.cols));
  for (int64_t o = row_begin; o < row_end; ++o) {
    row_to_f32_impl(w, o, row.data());
    for (int64_t t = 0; t < n_tok; ++t) y[t * ldy + o] = dot_f32(row.data(), x + t * w.cols, w.cols);
  }
}

const KernelTable kTable = {matmul_rows, dot_f32, axpy_f32};

}  // namespace qwen3::kernels::scalar
