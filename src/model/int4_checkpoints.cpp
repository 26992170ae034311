// Reading AWQ and GPTQ checkpoints (int4_checkpoints.h): the quantization_config, and each layer's packed
// values, zero points and scales made into the kernels' q4_1 tiles.
#include "model/int4_checkpoints.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/half.h"
#include "kernels/pack.h"
#include "model/fp8.h"

namespace qwen3 {

using json = nlohmann::json;

namespace {

// AWQ: the nibble of output column 8p + k within word p (AutoAWQ packs columns 0, 2, 4, 6, 1, 3, 5, 7 from
// the low bits up). GPTQ packs in order.
constexpr int kAwqNibble[8] = {0, 4, 1, 5, 2, 6, 3, 7};

int config_int(const json& q, const char* key, const char* alt, int dflt, const std::string& path) {
  const char* k = q.contains(key) ? key : alt;
  if (!q.contains(k)) return dflt;
  QWEN3_CHECK(q[k].is_number_integer(), "%s: quantization_config %s is not an integer", path.c_str(), k);
  return q[k].get<int>();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return "[" + s + "]";
}

void check_tensor(const char* format, const StTensor& t, bool int32, const std::vector<int64_t>& shape) {
  if (int32)
    QWEN3_CHECK(t.dtype_name == "I32", "%s: %s tensor '%s' has dtype %s; expected I32", t.file.c_str(),
                format, t.name.c_str(), t.dtype_name.c_str());
  else
    QWEN3_CHECK(t.dtype != StDType::kOther, "%s: %s tensor '%s' has dtype %s; expected F16 (or BF16, F32)",
                t.file.c_str(), format, t.name.c_str(), t.dtype_name.c_str());
  QWEN3_CHECK(t.shape == shape, "%s: %s tensor '%s' has shape %s; expected %s", t.file.c_str(), format,
              t.name.c_str(), shape_str(t.shape).c_str(), shape_str(shape).c_str());
}

uint32_t word_at(const StTensor& t, int64_t i) {
  uint32_t w;
  std::memcpy(&w, t.data + 4 * i, 4);
  return w;
}

}  // namespace

std::optional<Int4Scheme> read_int4_scheme(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  json q;
  if (!read_quantization_config(model_dir, &q) || !q.is_object()) return std::nullopt;
  const std::string method = q.value("quant_method", std::string());
  if (method != "awq" && method != "gptq") return std::nullopt;
  Int4Scheme s;
  s.format = method == "awq" ? Int4Scheme::Format::kAwq : Int4Scheme::Format::kGptq;
  const int bits = config_int(q, "bits", "w_bit", 4, path);
  QWEN3_CHECK(bits == 4, "%s: %s with %d-bit weights is not supported (only 4-bit)", path.c_str(), s.name(),
              bits);
  s.group_size = config_int(q, "group_size", "q_group_size", 128, path);
  QWEN3_CHECK(s.group_size == -1 || (s.group_size > 0 && s.group_size % 32 == 0 && s.group_size <= (1 << 20)),
              "%s: %s group_size %d is not supported (a multiple of 32, or -1)", path.c_str(), s.name(),
              s.group_size);
  if (s.format == Int4Scheme::Format::kAwq) {
    QWEN3_CHECK(!q.contains("zero_point") || q["zero_point"] == true,
                "%s: AWQ without zero points (zero_point false) is not supported", path.c_str());
    const std::string version = lower(q.value("version", std::string("gemm")));
    QWEN3_CHECK(
        version == "gemm",
        "%s: AWQ version \"%s\" is not supported (only \"gemm\", the packing of AutoAWQ's default and "
        "Qwen's AWQ repos)",
        path.c_str(), version.c_str());
  } else {
    QWEN3_CHECK(!q.contains("desc_act") || q["desc_act"] == false,
                "%s: GPTQ with act order (desc_act true) is not supported: its groups interleave the columns",
                path.c_str());
    const std::string fmt = lower(q.value("checkpoint_format", std::string("gptq")));
    QWEN3_CHECK(fmt == "gptq" || fmt == "gptq_v2",
                "%s: GPTQ checkpoint_format \"%s\" is not supported (\"gptq\" or \"gptq_v2\")", path.c_str(),
                fmt.c_str());
    s.zero_offset = fmt == "gptq";
  }
  return s;
}

Tensor make_int4_matrix(const Int4Scheme& scheme, const Int4Tensors& in, int64_t rows, int64_t cols,
                        DType want, uint8_t* out, ThreadPool* pool) {
  const StTensor &qweight = *in.qweight, &qzeros = *in.qzeros, &scales = *in.scales;
  const bool awq = scheme.format == Int4Scheme::Format::kAwq;
  const char* fmt = scheme.name();
  const int64_t g_size = scheme.group_size == -1 ? cols : scheme.group_size;
  QWEN3_CHECK(
      rows % 8 == 0 && cols % g_size == 0 && cols % 8 == 0,
      "%s: %s tensor '%s' of a [%lld, %lld] layer: its outputs and inputs must be whole words of 8 and "
      "its inputs whole groups of %lld",
      qweight.file.c_str(), fmt, qweight.name.c_str(), static_cast<long long>(rows),
      static_cast<long long>(cols), static_cast<long long>(g_size));
  const int64_t words = rows / 8, groups = cols / g_size;
  check_tensor(fmt, qweight, true,
               awq ? std::vector<int64_t>{cols, words} : std::vector<int64_t>{cols / 8, rows});
  check_tensor(fmt, qzeros, true, {groups, words});
  check_tensor(fmt, scales, false, {groups, rows});
  if (in.g_idx) {
    check_tensor(fmt, *in.g_idx, true, {cols});
    for (int64_t i = 0; i < cols; ++i)
      QWEN3_CHECK(static_cast<int64_t>(word_at(*in.g_idx, i)) == i / g_size,
                  "%s: GPTQ tensor '%s' puts input %lld in group %d, not %lld: act-order checkpoints are not "
                  "supported",
                  in.g_idx->file.c_str(), in.g_idx->name.c_str(), static_cast<long long>(i),
                  static_cast<int>(word_at(*in.g_idx, i)), static_cast<long long>(i / g_size));
  }
  auto scale = [&](int64_t g, int64_t o) -> float {
    const int64_t i = g * rows + o;
    if (scales.dtype == StDType::kF32) {
      float v;
      std::memcpy(&v, scales.data + 4 * i, 4);
      return v;
    }
    uint16_t h;
    std::memcpy(&h, scales.data + 2 * i, 2);
    return scales.dtype == StDType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
  };
  auto zero = [&](int64_t g, int64_t o) {
    const int shift = 4 * (awq ? kAwqNibble[o % 8] : static_cast<int>(o % 8));
    return static_cast<int>((word_at(qzeros, g * words + o / 8) >> shift) & 15) +
           (scheme.zero_offset ? 1 : 0);
  };
  const Tensor t{want, rows, cols, out, true};  // tiled
  const size_t tile_bytes = dtype_tile_bytes(want, cols), row_bytes = dtype_row_bytes(want, cols);
  // One job per 128 output rows (8 tiles): AWQ's 16 words of each input row, GPTQ's 128 of each eighth.
  constexpr int64_t kJobRows = 8 * kTileRows;
  parallel_for(pool, (rows + kJobRows - 1) / kJobRows, [&](int64_t j0, int64_t j1) {
    std::vector<uint8_t> q(static_cast<size_t>(kJobRows * cols));  // q[r * cols + i], r the job's row
    std::vector<uint8_t> converted(row_bytes * kTileRows);
    std::vector<float> values(static_cast<size_t>(cols));
    const uint8_t* row_ptrs[kTileRows];
    for (int64_t job = j0; job < j1; ++job) {
      const int64_t o0 = job * kJobRows, n_rows = std::min(kJobRows, rows - o0);
      if (awq) {
        for (int64_t i = 0; i < cols; ++i)
          for (int64_t w = 0; w < n_rows / 8; ++w) {
            const uint32_t word = word_at(qweight, i * words + o0 / 8 + w);
            for (int k = 0; k < 8; ++k) q[(w * 8 + k) * cols + i] = (word >> (4 * kAwqNibble[k])) & 15;
          }
      } else {
        for (int64_t r8 = 0; r8 < cols / 8; ++r8)
          for (int64_t o = 0; o < n_rows; ++o) {
            const uint32_t word = word_at(qweight, r8 * rows + o0 + o);
            for (int j = 0; j < 8; ++j) q[o * cols + r8 * 8 + j] = (word >> (4 * j)) & 15;
          }
      }
      for (int64_t ti = 0; ti < (n_rows + kTileRows - 1) / kTileRows; ++ti) {
        const int n = static_cast<int>(std::min<int64_t>(kTileRows, n_rows - ti * kTileRows));
        for (int r = 0; r < n; ++r) {
          const int64_t jr = ti * kTileRows + r, o = o0 + jr;
          const uint8_t* qr = q.data() + jr * cols;
          uint8_t* dst = converted.data() + r * row_bytes;
          if (want == DType::kQ4_1) {
            BlockQ4_1* b = reinterpret_cast<BlockQ4_1*>(dst);
            for (int64_t k = 0; k < cols / kQuantBlock; ++k) {
              const int64_t g = k * kQuantBlock / g_size;
              const float s = scale(g, o);  // z * s is exact in f32 (11 + 5 bits): one rounding, to f16
              b[k].d = f32_to_f16(s);
              b[k].m = f32_to_f16(-static_cast<float>(zero(g, o)) * s);
              for (int e = 0; e < kQuantBlock / 2; ++e)
                b[k].qs[e] = static_cast<uint8_t>(qr[k * kQuantBlock + e] |
                                                  (qr[k * kQuantBlock + e + kQuantBlock / 2] << 4));
            }
          } else {
            for (int64_t i = 0; i < cols; ++i)
              values[i] = static_cast<float>(qr[i] - zero(i / g_size, o)) * scale(i / g_size, o);
            kernels::row_from_f32(values.data(), cols, want, dst);
          }
          row_ptrs[r] = dst;
        }
        kernels::pack_tile(want, row_ptrs, n, cols, out + (o0 / kTileRows + ti) * tile_bytes);
      }
    }
  });
  // The file's copy is not read again: give its pages back now, so the model is never resident twice.
  drop_mapped_pages(qweight.data, qweight.n_bytes);
  return t;
}

}  // namespace qwen3
