// ISA selection and the kernels that do not need one implementation per ISA.
#include "kernels/kernels.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace qwen3::kernels {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:  // what *_avx2.cpp files are compiled for (CMakeLists.txt)
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2");
    case Isa::kAvx512:  // what *_avx512.cpp files are compiled for
      return isa_supported(Isa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bf16") &&
             __builtin_cpu_supports("avx512vnni");
  }
  return false;
}

static Isa detect_isa() {
  const char* env = std::getenv("QWEN3_ISA");
  if (env && *env) {
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (std::strcmp(env, isa_name(isa)) == 0) {
        QWEN3_CHECK(isa_supported(isa), "QWEN3_ISA=%s: this CPU (or this build) cannot run it", env);
        return isa;
      }
    }
    throw_error("QWEN3_ISA=%s: unknown ISA (use scalar, avx2 or avx512)", env);
  }
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2})
    if (isa_supported(isa)) return isa;
  return Isa::kScalar;
}

Isa active_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

const KernelTable& table_for(Isa isa) {
  QWEN3_CHECK(isa_supported(isa), "ISA %s is not available on this CPU", isa_name(isa));
  return scalar::kTable;
}

const KernelTable& active() {
  static const KernelTable& table = table_for(active_isa());
  return table;
}

void matmul(const Tensor& w, const float* x, int64_t n_tok, float* y, ThreadPool* pool) {
  const KernelTable& k = active();
  // Split output rows in multiples of 16 so that SIMD kernels working on row groups see whole groups.
  int64_t n_groups = (w.rows + 15) / 16;
  parallel_for(pool, n_groups, [&](int64_t g0, int64_t g1) {
    int64_t r0 = g0 * 16, r1 = g1 * 16 < w.rows ? g1 * 16 : w.rows;
    k.matmul_rows(w, r0, r1, x, n_tok, y, w.rows);
  });
}

namespace scalar {
void row_to_f32_impl(const Tensor& w, int64_t r, float* out);
}
void row_to_f32(const Tensor& w, int64_t row, float* out) {
  scalar::row_to_f32_impl(w, row, out);
}

void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  // transformers: variance = hidden_states.pow(2).mean(-1); hidden_states * torch.rsqrt(variance + eps)
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  float scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * scale);
}

void rope_neox(float* x, const float* cos, const float* sin, int head_dim) {
  // transformers: q * cos + rotate_half(q) * sin, rotate_half(x) = cat(-x2, x1), cos/sin = cat(freqs, freqs)
  int half = head_dim / 2;
  for (int i = 0; i < half; ++i) {
    float x1 = x[i], x2 = x[i + half];
    x[i] = x1 * cos[i] - x2 * sin[i];
    x[i + half] = x2 * cos[i] + x1 * sin[i];
  }
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace qwen3::kernels
