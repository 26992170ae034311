// 4-bit AWQ and GPTQ checkpoints in safetensors. Each quantised linear layer "<m>.weight" [out, in] is
// replaced by packed 4-bit values q, zero points z and scales s per group of G input columns:
//   weight[o, i] = (q[i, o] - z[i / G, o]) * s[i / G, o]
//
// AWQ (AutoAWQ's "gemm" layout, Qwen's *-AWQ repos): quantization_config {"quant_method": "awq", "bits": 4,
// "group_size": G, "zero_point": true, "version": "gemm"};
//   <m>.qweight I32 [in, out / 8]: column 8p + k of input row i in bits 4 * R[k] of word [i, p],
//                                  R = {0, 4, 1, 5, 2, 6, 3, 7}
//   <m>.qzeros  I32 [in / G, out / 8], packed alike;  <m>.scales F16 [in / G, out]
// GPTQ (AutoGPTQ / GPTQModel): quantization_config {"quant_method": "gptq", "bits": 4, "group_size": G,
// "desc_act": false, "sym": true|false, "checkpoint_format": "gptq" (the default) or "gptq_v2"};
//   <m>.qweight I32 [in / 8, out]: input row 8r + j of column o in bits 4j of word [r, o]
//   <m>.qzeros  I32 [in / G, out / 8]: column 8p + j in bits 4j of word [g, p], holding z - 1 in the "gptq"
//               format (AutoGPTQ's historical offset; "gptq_v2" stores z itself)
//   <m>.scales  F16 [in / G, out];  <m>.g_idx I32 [in] (optional): each input row's group, which must be i /
//   G
//               (act-order checkpoints, whose groups interleave, are refused)
// G = -1 (both) is one group per row.
//
// The engine keeps no AWQ/GPTQ kernels: each matrix becomes q4_1 at load (DType::kQ4_1, GGUF's block: per 32
// columns, value = nibble * d + m), d = s and m = -z * s rounded to f16 per 32 columns of a group: the same
// nibbles and scales, m within 2^-11 of its value. --dtype converts from the exact values (q - z) * s
// instead. Modules left unquantised keep "<m>.weight". Tests: tests/quant/test_int4.py
// (tools/int4/int4_numpy.py writes and decodes both layouts independently).
#pragma once

#include <optional>
#include <string>

#include "core/thread_pool.h"
#include "formats/safetensors.h"
#include "kernels/tensor.h"

namespace qwen3 {

struct Int4Scheme {
  enum class Format { kAwq, kGptq };
  Format format = Format::kAwq;
  int group_size = 128;  // input columns per scale and zero point: a multiple of 32, or -1 (the whole row)
  bool zero_offset = false;  // GPTQ's "gptq" format: the stored zero points are z - 1
  const char* name() const { return format == Format::kAwq ? "AWQ" : "GPTQ"; }
};

// config.json's quantization_config when its quant_method is "awq" or "gptq" (nullopt otherwise, or without
// one); throws one line naming the field for a variant this engine cannot run (other bit widths, AWQ without
// zero points or in the "gemv" packing, GPTQ with act order, a group size that is not a multiple of 32).
std::optional<Int4Scheme> read_int4_scheme(const std::string& model_dir);

// The layer's tensors besides qweight, qzeros and scales: GPTQ's optional g_idx.
struct Int4Tensors {
  const StTensor* qweight = nullptr;
  const StTensor* qzeros = nullptr;
  const StTensor* scales = nullptr;
  const StTensor* g_idx = nullptr;  // GPTQ, may be absent
};

// The tiled matrix [rows = out, cols = in] of a quantised layer, in `want` (q4_1 as above, or any dtype from
// the exact values). Checks dtypes and shapes, naming the tensors. `out` holds dtype_tile_bytes(want, cols)
// per 16 rows.
Tensor make_int4_matrix(const Int4Scheme& scheme, const Int4Tensors& t, int64_t rows, int64_t cols,
                        DType want, uint8_t* out, ThreadPool* pool);

}  // namespace qwen3
