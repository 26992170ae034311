// ISA selection and the kernels that do not need one implementation per ISA.
#include "kernels/kernels.h"

#include <cpuid.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "core/half.h"
#include "kernels/matmul_fp8.h"
#include "kernels/pack.h"
#include "kernels/quant_k.h"
#include "kernels/quant_legacy.h"

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

// CPUID.1:ECX.F16C, read directly: clang 14's __builtin_cpu_supports does not know "f16c".
static bool cpu_has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:  // what *_avx2.cpp files are compiled for (CMakeLists.txt)
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c() &&
             __builtin_cpu_supports("bmi2");
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
  switch (isa) {
    case Isa::kAvx512:
      return avx512::kTable;
    case Isa::kAvx2:
      return avx2::kTable;
    case Isa::kScalar:
      break;
  }
  return scalar::kTable;
}

const KernelTable& active() {
  static const KernelTable& table = table_for(active_isa());
  return table;
}

void quantize_activations(const float* x, int64_t n_tok, int64_t n, int8_t* xq, float* xd, int32_t* xs) {
  const int64_t nb = n / kQuantBlock;
  for (int64_t t = 0; t < n_tok; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* v = x + t * n + b * kQuantBlock;
      int8_t* q = xq + t * n + b * kQuantBlock;
      float amax = 0;
      for (int j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(v[j]));
      // f32 scale (finer than ggml's f16 activation scale); round to nearest even, as SIMD rounding does.
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      int32_t sum = 0;
      for (int j = 0; j < kQuantBlock; ++j) {
        q[j] = static_cast<int8_t>(std::nearbyint(v[j] * id));
        sum += q[j];
      }
      xd[t * nb + b] = d;
      xs[t * nb + b] = sum;
    }
  }
}

void round_activations_bf16(const KernelTable& k, const float* x, int64_t n_tok, int64_t n, uint16_t* xb) {
  const int64_t ld = n + (n & 1);
  for (int64_t t = 0; t < n_tok; ++t) {
    k.round_bf16(x + t * n, n, xb + t * ld);
    if (n & 1) xb[t * ld + n] = 0;
  }
}

namespace {

// The offset stored with each int8 weight (q8_0 as uint8 q + 128, q4_0 nibbles q + 8): the kernels' unsigned
// x signed dot products count it once per activation, and the corrections -offset * block sum cancel it.
int32_t int8_offset(DType w) {
  return w == DType::kQ8_0 ? 128 : 8;
}

// One row segment in the int8 form (quantize_input_row): the block sums quantize_act writes into xc become
// the corrections in place.
void quantize_row_int8(const KernelTable& k, DType w, const float* x, int64_t n, int8_t* xq, float* xd,
                       int32_t* xc) {
  k.quantize_act(x, n, xq, xd, xc);
  const int32_t offset = int8_offset(w);
  for (int64_t b = 0; b < n / kQuantBlock; ++b) xc[b] *= -offset;
}

// The activations of one matmul call in the form the weight dtype's kernels read: quantised for q8_0/q4_0,
// rounded to bf16 for bf16_dot. The caller's thread owns the buffers (thread_local, reused across calls); the
// workers only read them.
MatmulInput prepare_input(const KernelTable& k, const Tensor& w, const float* x, int64_t n_tok,
                          ThreadPool* pool) {
  MatmulInput in;
  in.x = x;
  in.ldx = w.cols;
  in.n_tok = n_tok;
  thread_local HugeVector<int8_t> xq;
  thread_local HugeVector<float> xd;
  thread_local HugeVector<int32_t> xc;
  thread_local HugeVector<uint16_t> xb;
  const int64_t n = w.cols;
  if (w.dtype == DType::kF8E4M3) {  // bf16 activations, each row zero-padded to whole 128-column blocks
    const int64_t ld = fp8_padded_cols(n);
    xb.resize(static_cast<size_t>(n_tok * ld));
    uint16_t* b = xb.data();
    parallel_for(n_tok > 1 ? pool : nullptr, n_tok, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        k.round_bf16(x + t * n, n, b + t * ld);
        std::fill(b + t * ld + n, b + (t + 1) * ld, uint16_t{0});
      }
    });
    in.xb = b;
    in.ldxb = ld;
  } else if (is_k_quant(w.dtype)) {  // 256-value blocks, one scale each, and sums of 16 (quant_k.h)
    const int64_t nb = n / kSuperBlock, ng = n / kKGroup;
    xq.resize(static_cast<size_t>(n_tok * n));
    xd.resize(static_cast<size_t>(n_tok * nb));
    xc.resize(static_cast<size_t>(n_tok * ng));
    int8_t* q = xq.data();
    float* d = xd.data();
    int32_t* sums = xc.data();
    parallel_for(n_tok > 1 ? pool : nullptr, n_tok, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) k.quantize_act_k(x + t * n, n, q + t * n, d + t * nb, sums + t * ng);
    });
    in.xq = q;
    in.xd = d;
    in.xc = sums;
  } else if (w.dtype == DType::kQ8_0 || w.dtype == DType::kQ4_0 || is_legacy_quant(w.dtype)) {
    const int64_t nb = n / kQuantBlock;
    xq.resize(static_cast<size_t>(n_tok * n));
    xd.resize(static_cast<size_t>(n_tok * nb));
    xc.resize(static_cast<size_t>(n_tok * nb));
    // Plain pointers: inside the workers' lambda the thread_local names would be the workers' own vectors.
    int8_t* q = xq.data();
    float* d = xd.data();
    int32_t* corr = xc.data();
    // One token's row is a few microseconds of work: not worth waking the pool for.
    parallel_for(n_tok > 1 ? pool : nullptr, n_tok, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        if (!is_legacy_quant(w.dtype)) {
          quantize_row_int8(k, w.dtype, x + t * n, n, q + t * n, d + t * nb, corr + t * nb);
          continue;
        }
        // q8_0's activations; xc from the block sums (quant_legacy.h)
        k.quantize_act(x + t * n, n, q + t * n, d + t * nb, corr + t * nb);
        legacy_input_corrections(w.dtype, corr + t * nb, nb);
      }
    });
    in.xq = q;
    in.xd = d;
    in.xc = corr;
  } else if (w.dtype == DType::kBF16 && w.bf16_dot) {
    const int64_t ld = n + (n & 1);
    xb.resize(static_cast<size_t>(n_tok * ld));
    uint16_t* b = xb.data();
    parallel_for(n_tok > 1 ? pool : nullptr, n_tok, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) round_activations_bf16(k, x + t * n, 1, n, b + t * ld);
    });
    in.xb = b;
    in.ldxb = ld;
  }
  return in;
}

// A single token's matmul streams its weights once (kDecodePrefetch): one chunk per thread, since each
// chunk restarts the stream (decode +3 % over four chunks per thread, q4_0 and q8_0, side by side). A prompt
// computes enough per byte for a few chunks to balance the threads.
int chunks_per_thread(int64_t n_tok) {
  return n_tok == 1 ? 1 : 4;
}

void check_tiled(const Tensor& w) {
  QWEN3_CHECK(w.tiled, "matmul: weight matrix [%lld, %lld] is not tiled", static_cast<long long>(w.rows),
              static_cast<long long>(w.cols));
}

// The tiles of matrices sharing one prepared input in one range [0, total) over the pool: tile g is tile g -
// first[i] of matrix i.
void shared_tiles(const KernelTable& k, const Tensor* const* ws, float* const* ys, int n_mat,
                  const MatmulInput& in, ThreadPool* pool) {
  if (in.n_tok <= 0 || n_mat == 0) return;
  constexpr int kMaxShared = 8;  // a fixed array: this runs twice per layer of every decode step
  QWEN3_CHECK(n_mat <= kMaxShared, "matmul_shared_input: %d matrices, at most %d", n_mat, kMaxShared);
  int64_t first[kMaxShared + 1] = {0};
  for (int i = 0; i < n_mat; ++i) {
    check_tiled(*ws[i]);
    first[i + 1] = first[i] + ws[i]->n_tiles();
  }
  parallel_for(
      pool, first[n_mat],
      [&](int64_t g0, int64_t g1) {
        for (int i = 0; i < n_mat; ++i) {
          const int64_t a = std::max(g0, first[i]), b = std::min(g1, first[i + 1]);
          if (a < b) k.matmul_tiles(*ws[i], in, a - first[i], b - first[i], ys[i], ws[i]->rows);
        }
      },
      chunks_per_thread(in.n_tok));
}

void gate_up_silu(const KernelTable& k, const Tensor& gate, const Tensor& up, const MatmulInput& in, float* h,
                  float* up_buf, ThreadPool* pool) {
  check_tiled(gate);
  check_tiled(up);
  QWEN3_CHECK(
      gate.dtype == up.dtype && gate.rows == up.rows && gate.cols == up.cols && gate.bf16_dot == up.bf16_dot,
      "matmul_gate_up_silu: gate %s [%lld, %lld]%s and up %s [%lld, %lld]%s differ", dtype_name(gate.dtype),
      static_cast<long long>(gate.rows), static_cast<long long>(gate.cols), gate.bf16_dot ? " bf16_dot" : "",
      dtype_name(up.dtype), static_cast<long long>(up.rows), static_cast<long long>(up.cols),
      up.bf16_dot ? " bf16_dot" : "");
  if (in.n_tok <= 0 || gate.rows == 0) return;
  // A single token (decode) reads each weight once: one stream per thread, as shared_tiles gives it, rather
  // than gate's and up's side by side (kernels_avx512.cpp's matmul_dtype).
  if (k.matmul_silu_tiles && in.n_tok > 1 && !is_k_quant(gate.dtype) && gate.dtype != DType::kF8E4M3 &&
      !is_legacy_quant(gate.dtype)) {
    parallel_for(
        pool, gate.n_tiles(),
        [&](int64_t t0, int64_t t1) { k.matmul_silu_tiles(gate, up, in, t0, t1, h, gate.rows); },
        chunks_per_thread(in.n_tok));
    return;
  }
  const Tensor* ws[] = {&gate, &up};
  float* ys[] = {h, up_buf};
  shared_tiles(k, ws, ys, 2, in, pool);
  const int64_t n = gate.rows;
  parallel_for(in.n_tok > 1 ? pool : nullptr, in.n_tok, [&](int64_t t0, int64_t t1) {
    k.silu_mul(h + t0 * n, up_buf + t0 * n, (t1 - t0) * n, h + t0 * n);
  });
}

// y = x W^T from an input as prepare_input gives it, every tile of w over the pool.
void prepared_tiles(const KernelTable& k, const Tensor& w, const MatmulInput& in, float* y, int64_t ldy,
                    ThreadPool* pool) {
  check_tiled(w);
  if (in.n_tok <= 0 || w.rows == 0) return;
  parallel_for(
      pool, w.n_tiles(), [&](int64_t t0, int64_t t1) { k.matmul_tiles(w, in, t0, t1, y, ldy); },
      chunks_per_thread(in.n_tok));
}

}  // namespace

bool reads_int8_input(const Tensor& w) {
  return w.dtype == DType::kQ8_0 || w.dtype == DType::kQ4_0;
}

void quantize_input_row(DType w, const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xc) {
  quantize_row_int8(active(), w, x, n, xq, xd, xc);
}

MatmulInput prepare_input(const Tensor& w, const float* x, int64_t n_tok, ThreadPool* pool) {
  return prepare_input(active(), w, x, n_tok, pool);
}

int matmul_chunks_per_thread(int64_t n_tok) {
  return chunks_per_thread(n_tok);
}

void matmul_prepared(const Tensor& w, const MatmulInput& in, float* y, ThreadPool* pool) {
  prepared_tiles(active(), w, in, y, w.rows, pool);
}

void matmul_with(const KernelTable& k, const Tensor& w, const float* x, int64_t n_tok, float* y, int64_t ldy,
                 ThreadPool* pool) {
  check_tiled(w);
  if (n_tok <= 0 || w.rows == 0) return;
  prepared_tiles(k, w, prepare_input(k, w, x, n_tok, pool), y, ldy, pool);
}

void matmul(const Tensor& w, const float* x, int64_t n_tok, float* y, ThreadPool* pool) {
  matmul_with(active(), w, x, n_tok, y, w.rows, pool);
}

void matmul_shared_input(const Tensor* const* ws, float* const* ys, int n_mat, const float* x, int64_t n_tok,
                         ThreadPool* pool) {
  const KernelTable& k = active();
  bool same_form = true;
  for (int i = 0; i < n_mat; ++i)  // (both calls below check that the matrices are tiled)
    same_form = same_form && ws[i]->dtype == ws[0]->dtype && ws[i]->cols == ws[0]->cols &&
                ws[i]->bf16_dot == ws[0]->bf16_dot;
  if (!same_form) {  // a model with mixed dtypes: one call each
    for (int i = 0; i < n_mat; ++i) matmul_with(k, *ws[i], x, n_tok, ys[i], ws[i]->rows, pool);
    return;
  }
  if (n_tok <= 0 || n_mat == 0) return;
  matmul_shared_prepared(ws, ys, n_mat, prepare_input(k, *ws[0], x, n_tok, pool), pool);
}

void matmul_shared_prepared(const Tensor* const* ws, float* const* ys, int n_mat, const MatmulInput& in,
                            ThreadPool* pool) {
  shared_tiles(active(), ws, ys, n_mat, in, pool);
}

void matmul_gate_up_silu(const Tensor& gate, const Tensor& up, const float* x, int64_t n_tok, float* h,
                         float* up_buf, ThreadPool* pool) {
  matmul_gate_up_silu_with(active(), gate, up, x, n_tok, h, up_buf, pool);
}

void matmul_gate_up_silu_with(const KernelTable& k, const Tensor& gate, const Tensor& up, const float* x,
                              int64_t n_tok, float* h, float* up_buf, ThreadPool* pool) {
  gate_up_silu(k, gate, up, prepare_input(k, gate, x, n_tok, pool), h, up_buf, pool);
}

void matmul_gate_up_silu_prepared(const Tensor& gate, const Tensor& up, const MatmulInput& in, float* h,
                                  float* up_buf, ThreadPool* pool) {
  gate_up_silu(active(), gate, up, in, h, up_buf, pool);
}

void row_to_f32(const Tensor& w, int64_t row, float* out) {
  if (w.tiled)
    tiled_row_to_f32(w, row, out);
  else
    row_to_f32_rowmajor(w.dtype, w.row(row), w.cols, out);
}

void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  active().rmsnorm(x, weight, n, eps, out);
}

void add(float* x, const float* y, int64_t n) {
  active().add(x, y, n);
}

void rope_neox(float* x, const float* cos, const float* sin, int head_dim) {
  active().rope_neox(x, cos, sin, head_dim);
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  active().silu_mul(gate, up, n, out);
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
