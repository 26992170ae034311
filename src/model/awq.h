// AWQ 4-bit checkpoints in safetensors (AutoAWQ's "gemm" layout, as Qwen's *-AWQ repos write it): config.json
// quantization_config {"quant_method": "awq", "bits": 4, "group_size": G, "zero_point": true,
// "version": "gemm"}, and each decoder linear "<m>.weight" [out, in] replaced by
//   <m>.qweight  I32 [in, out / 8]   the 4-bit values q, eight output columns per word: column 8p + k of
//   input
//                                    row i in bits 4 * R[k] of word [i, p], R = {0, 4, 1, 5, 2, 6, 3, 7}
//   <m>.qzeros   I32 [in / G, out / 8]  the zero points z, packed alike
//   <m>.scales   F16 [in / G, out]   the scales s
// so that weight[o, i] = (q[i, o] - z[i / G, o]) * s[i / G, o]. Modules left unquantised keep "<m>.weight".
//
// The engine keeps no AWQ kernels: each matrix becomes q4_1 at load (DType::kQ4_1, GGUF's block: per 32
// columns, value = nibble * d + m), d = s and m = -z * s rounded to f16 per 32 columns of a group: the same
// nibbles and scales, m within 2^-11 of its value. --dtype converts from the exact values (q - z) * s
// instead. Tests: tests/quant/test_awq.py (tools/awq/awq_numpy.py writes and decodes the layout
// independently).
#pragma once

#include <optional>
#include <string>

#include "core/thread_pool.h"
#include "formats/safetensors.h"
#include "kernels/tensor.h"

namespace qwen3 {

struct AwqScheme {
  int group_size = 128;  // input columns per scale and zero point: a multiple of 32
};

// config.json's quantization_config when its quant_method is "awq" (nullopt otherwise, or without one);
// throws one line naming the field for an AWQ variant this engine cannot run (other bit widths, no zero
// point, the "gemv" packing, a group size that is not a multiple of 32).
std::optional<AwqScheme> read_awq_scheme(const std::string& model_dir);

// The tiled matrix [rows = out, cols = in] of an AWQ linear layer from its three tensors, in `want` (q4_1 as
// above, or any dtype from the exact values). Checks dtypes and shapes, naming the tensors. `out` holds
// dtype_tile_bytes(want, cols) per 16 rows.
Tensor make_awq_matrix(const AwqScheme& scheme, const StTensor& qweight, const StTensor& qzeros,
                       const StTensor& scales, int64_t rows, int64_t cols, DType want, uint8_t* out,
                       ThreadPool* pool);

}  // namespace qwen3
