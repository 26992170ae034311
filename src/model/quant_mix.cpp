#include "model/quant_mix.h"

namespace qwen3 {

std::optional<QuantMix> find_quant_mix(const std::string& name) {
  // llama_ftype numbers (llama.h)
  if (name == "q4_k_m") return QuantMix{name, DType::kQ4_K, 15, true};
  if (name == "q4_k_s") return QuantMix{name, DType::kQ4_K, 14, true};
  if (name == "q5_k_m") return QuantMix{name, DType::kQ5_K, 17, true};
  if (name == "q5_k_s") return QuantMix{name, DType::kQ5_K, 16, true};
  if (name == "q6_k") return QuantMix{name, DType::kQ6_K, 18, true};
  if (name == "q3_k_m") return QuantMix{name, DType::kQ3_K, 12, true};
  if (name == "q3_k_s") return QuantMix{name, DType::kQ3_K, 11, true};
  if (name == "q3_k_l") return QuantMix{name, DType::kQ3_K, 13, true};
  if (name == "q2_k") return QuantMix{name, DType::kQ2_K, 10, true};
  if (name == "q8_0") return QuantMix{name, DType::kQ8_0, 7};
  if (name == "q4_0") return QuantMix{name, DType::kQ4_0, 2};
  if (name == "q4_1") return QuantMix{name, DType::kQ4_1, 3};
  if (name == "q5_0") return QuantMix{name, DType::kQ5_0, 8};
  if (name == "q5_1") return QuantMix{name, DType::kQ5_1, 9};
  if (name == "bf16") return QuantMix{name, DType::kBF16, 32};
  if (name == "f16") return QuantMix{name, DType::kF16, 1};
  if (name == "f32") return QuantMix{name, DType::kF32, 0};
  return std::nullopt;
}

static bool use_more_bits(int i, int n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

// The layer index of "model.layers.N.<rest>", and whether rest is `what`.
static bool layer_matrix(const std::string& hf, const std::string& what, int* il) {
  const std::string prefix = "model.layers.";
  if (!hf.starts_with(prefix) || !hf.ends_with("." + what)) return false;
  *il = std::stoi(hf.substr(prefix.size()));
  return true;
}

DType quant_mix_type(const QuantMix& mix, const ModelConfig& config, const std::string& hf_name,
                     int64_t cols) {
  DType t = mix.base;
  if (mix.k_mix) {
    const int n = config.num_hidden_layers;
    const std::string& x = mix.name;
    const bool m45 = x == "q4_k_m" || x == "q5_k_m";
    int il = 0;
    if (hf_name == "lm_head.weight" ||
        (config.tie_word_embeddings && hf_name == "model.embed_tokens.weight")) {
      t = DType::kQ6_K;
    } else if (layer_matrix(hf_name, "self_attn.v_proj.weight", &il)) {
      const bool gqa4 = config.num_attention_heads >= 4 * config.num_key_value_heads;
      if (m45 && use_more_bits(il, n)) t = DType::kQ6_K;
      if (x == "q4_k_s" && il < 4) t = DType::kQ5_K;
      if (x == "q2_k") t = gqa4 ? DType::kQ4_K : DType::kQ3_K;
      if (x == "q3_k_m") t = il < 2 ? DType::kQ5_K : DType::kQ4_K;
      if (x == "q3_k_l") t = DType::kQ5_K;
    } else if (layer_matrix(hf_name, "mlp.down_proj.weight", &il)) {
      if (m45 && use_more_bits(il, n)) t = DType::kQ6_K;
      if (x == "q4_k_s" && il < n / 8) t = DType::kQ5_K;
      if (x == "q2_k") t = DType::kQ3_K;
      if (x == "q3_k_m") t = il < n / 16 ? DType::kQ5_K : DType::kQ4_K;
      if (x == "q3_k_l") t = DType::kQ5_K;
    } else if (layer_matrix(hf_name, "self_attn.o_proj.weight", &il)) {
      if (x == "q2_k") t = DType::kQ3_K;
      if (x == "q3_k_m") t = DType::kQ4_K;
      if (x == "q3_k_l") t = DType::kQ5_K;
    }
  }
  if (cols % dtype_block_values(t) != 0) t = DType::kQ8_0;
  return t;
}

}  // namespace qwen3
