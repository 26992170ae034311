// The per-tensor types of llama.cpp's quantisation mixes (llama_tensor_get_type in llama-quant.cpp, for a
// dense model): `qwen3 quantize --type q4_k_m` writes a GGUF file with the tensor types llama-quantize would
// choose, so the files are alike in size and accuracy. docs/DESIGN.md ("Quantisation mixes").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/dtype.h"
#include "model/config.h"

namespace qwen3 {

struct QuantMix {
  std::string name;    // "q4_k_m", as given to --type
  DType base;          // the type of most matrices
  uint32_t file_type;  // general.file_type (llama_ftype)
  bool k_mix = false;  // llama.cpp's rules for the output matrix, attn_v and ffn_down apply
};

// The mix of a --type name: q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_m, q4_k_s, q5_k_m, q5_k_s, q6_k, or a plain
// type (q8_0, q4_0, q4_1, q5_0, q5_1, bf16, f16, f32: every matrix of that type); nullopt for an unknown
// name.
std::optional<QuantMix> find_quant_mix(const std::string& name);

// The type of matrix `hf_name` (a Hugging Face name, [rows, cols]) in the mix. llama.cpp's rules:
//   the output matrix (lm_head, or embed_tokens when tied): q6_K (q8_0 if cols % 256 != 0);
//   v_proj of layer il: q4_k_m/q5_k_m q6_K where use_more_bits(il, n_layers); q4_k_s q5_K for il < 4;
//     q2_k q4_K if num_attention_heads >= 4 num_key_value_heads, else q3_K; q3_k_m q5_K for il < 2, else
//     q4_K; q3_k_l q5_K;
//   down_proj: q4_k_m/q5_k_m q6_K where use_more_bits(il, n_layers); q4_k_s q5_K for il < n_layers / 8;
//     q2_k q3_K; q3_k_m q5_K for il < n_layers / 16, else q4_K; q3_k_l q5_K;
//   o_proj: q2_k q3_K, q3_k_m q4_K, q3_k_l q5_K (q3_k_s: every other matrix q3_K);
//   a k-quant type on a matrix whose cols are not whole 256-blocks: q8_0 (llama.cpp takes q5_0/q5_1/q8_0).
// use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2.
DType quant_mix_type(const QuantMix& mix, const ModelConfig& config, const std::string& hf_name,
                     int64_t cols);

}  // namespace qwen3
