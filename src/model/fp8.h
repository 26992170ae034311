// FP8 E4M3 checkpoints in safetensors: Qwen's fine-grained FP8 (config.json quantization_config
// {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]},
// each linear weight F8_E4M3 with an F32 "<weight>_scale_inv" [ceil(out / 128), ceil(in / 128)] multiplying
// each block) and the compressed-tensors FP8 layout of community checkpoints (quant_method
// "compressed-tensors", format "float-quantized", 8-bit float weights with a "<weight>_scale" per channel
// [out, 1], per tensor, or per 128-column block). Embeddings, lm_head and norms stay bf16 in both.
//
// The weights stay 8-bit in memory as DType::kF8E4M3 (core/dtype.h; kernels/matmul_fp8.h): each row's
// 128-column blocks carry their scale, whatever the checkpoint's granularity. `qwen3 quantize --type fp8`
// writes Qwen's layout (export_fp8). Tests: tests/quant/test_fp8.py.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/thread_pool.h"
#include "formats/safetensors.h"
#include "kernels/tensor.h"

namespace qwen3 {

// config.json's quantization_config object of a model directory, or where config.json has none the whole of
// AutoGPTQ's quantize_config.json or AutoAWQ's quant_config.json (quant_method "gptq" / "awq" when they do
// not say): false without any (a null entry counts as none); throws one line for malformed JSON. (The FP8
// reader and model/int4_checkpoints.h read theirs with it.)
bool read_quantization_config(const std::string& model_dir, nlohmann::json* out);

struct Fp8Scheme {
  enum class Scale { kBlock, kChannel, kTensor };
  std::string method;  // "fp8" or "compressed-tensors" (for messages)
  Scale scale = Scale::kBlock;
  int block_rows = 128, block_cols = 128;  // kBlock: rows and columns one scale covers
  std::string scale_suffix;                // appended to a weight's name: "_scale_inv" or "_scale"
};

// config.json's quantization_config of a model directory: nullopt without one (or without config.json, or
// for AWQ's and GPTQ's, model/int4_checkpoints.h); throws one line naming the field for a scheme this engine
// cannot run (e5m2, static activation scales, a block other than 128 columns, bitsandbytes, ...).
std::optional<Fp8Scheme> read_fp8_scheme(const std::string& model_dir);

// The tiled matrix of an F8_E4M3 weight [rows, cols] with its scale tensor, in `want`: f8_e4m3 keeps the
// bytes (with each row block's scale); any other dtype dequantises (e4m3 * scale in f32) and converts.
// Checks the scale tensor's dtype and shape, naming both tensors. `out` holds the tiled tensor's bytes
// (dtype_tile_bytes(want, cols) per 16 rows).
Tensor make_fp8_matrix(const Fp8Scheme& scheme, const StTensor& weight, const StTensor& scale, int64_t rows,
                       int64_t cols, DType want, uint8_t* out, ThreadPool* pool);

// qwen3 quantize --type fp8: a copy of the model directory in_dir in Qwen's fine-grained FP8 layout: every
// decoder linear weight as F8_E4M3 in blocks of 128 x 128 (scale = amax / 448 in f32, 1 for an all-zero
// block; q = e4m3(w / scale), nearest even, saturating) with its F32 _scale_inv, the rest in bf16, and
// config.json's quantization_config.
void export_fp8(const std::string& in_dir, const std::string& out_dir);

}  // namespace qwen3
