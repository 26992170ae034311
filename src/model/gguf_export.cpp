#include "model/gguf_export.h"

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "formats/gguf_writer.h"
#include "formats/safetensors.h"
#include "kernels/pack.h"
#include "model/gguf_model.h"
#include "model/weights.h"

namespace qwen3 {

using gguf::Value;

gguf::KeyValues gguf_model_metadata(const ModelConfig& c, uint32_t file_type, const gguf::Vocab& vocab,
                                    const std::string& name) {
  // Keys and value types as llama.cpp's convert_hf_to_gguf.py writes them for Qwen3 (llama.cpp checks the
  // type of each key it reads: counts are u32, float hyper-parameters f32).
  const std::string a = "qwen3.";
  gguf::KeyValues kv = {
      {"general.architecture", Value::str("qwen3")},
      {"general.type", Value::str("model")},
      {"general.name", Value::str(name)},
      {a + "block_count", Value::u32(c.num_hidden_layers)},
      {a + "context_length", Value::u32(c.max_position_embeddings)},
      {a + "embedding_length", Value::u32(c.hidden_size)},
      {a + "feed_forward_length", Value::u32(c.intermediate_size)},
      {a + "attention.head_count", Value::u32(c.num_attention_heads)},
      {a + "attention.head_count_kv", Value::u32(c.num_key_value_heads)},
      {a + "rope.freq_base", Value::f32(static_cast<float>(c.rope_theta))},
      {a + "attention.layer_norm_rms_epsilon", Value::f32(static_cast<float>(c.rms_norm_eps))},
      {a + "attention.key_length", Value::u32(c.head_dim)},
      {a + "attention.value_length", Value::u32(c.head_dim)},
      // Older llama.cpp releases default the rotary width to embedding_length / head_count, which is not
      // head_dim for most Qwen3 sizes: say it.
      {a + "rope.dimension_count", Value::u32(c.head_dim)},
      {"general.file_type", Value::u32(file_type)},
      {"general.quantization_version", Value::u32(2)},
      {"tokenizer.ggml.model", Value::str(vocab.model)},
      {"tokenizer.ggml.pre", Value::str(vocab.pre)},
      {"tokenizer.ggml.tokens", Value::str_array(vocab.tokens)},
      {"tokenizer.ggml.token_type", Value::i32_array(vocab.token_types)},
      {"tokenizer.ggml.merges", Value::str_array(vocab.merges)},
  };
  if (c.rope_scaling.is_yarn()) {
    // convert_hf_to_gguf.py's keys; what they cannot say (an attention factor replacing the default,
    // transformers' truncate=false) is refused rather than written wrong.
    const RopeScaling& rs = c.rope_scaling;
    QWEN3_CHECK(rs.attention_factor == 0 && rs.mscale == 0 && rs.mscale_all_dim == 0 && rs.truncate,
                "YaRN with attention_factor, mscale or truncate=false cannot be written to GGUF");
    kv.emplace_back(a + "rope.scaling.type", Value::str("yarn"));
    kv.emplace_back(a + "rope.scaling.factor", Value::f32(static_cast<float>(rs.factor)));
    kv.emplace_back(a + "rope.scaling.original_context_length",
                    Value::u32(rs.original_max_position_embeddings > 0 ? rs.original_max_position_embeddings
                                                                       : c.max_position_embeddings));
    if (rs.beta_fast != 32.0)
      kv.emplace_back(a + "rope.scaling.yarn_beta_fast", Value::f32(static_cast<float>(rs.beta_fast)));
    if (rs.beta_slow != 1.0)
      kv.emplace_back(a + "rope.scaling.yarn_beta_slow", Value::f32(static_cast<float>(rs.beta_slow)));
  }
  auto id = [&](const char* key, const std::optional<uint32_t>& v) {
    if (v) kv.emplace_back(std::string("tokenizer.ggml.") + key, Value::u32(*v));
  };
  id("bos_token_id", vocab.bos);
  id("eos_token_id", vocab.eos);
  id("unknown_token_id", vocab.unk);
  id("seperator_token_id", vocab.sep);  // sic: llama.cpp's spelling
  id("padding_token_id", vocab.pad);
  id("mask_token_id", vocab.mask);
  if (vocab.add_bos) kv.emplace_back("tokenizer.ggml.add_bos_token", Value::boolean(*vocab.add_bos));
  if (vocab.add_eos) kv.emplace_back("tokenizer.ggml.add_eos_token", Value::boolean(*vocab.add_eos));
  if (!vocab.chat_template.empty())
    kv.emplace_back("tokenizer.chat_template", Value::str(vocab.chat_template));
  return kv;
}

static DType dtype_of_st(const StTensor& st, const SafetensorsSet& set) {
  if (std::optional<DType> d = value_dtype(st.dtype)) return *d;
  auto q = set.metadata.find(kQuantizationKey);
  QWEN3_CHECK(
      st.dtype_name == "U8" && q != set.metadata.end() && (q->second == "q8_0" || q->second == "q4_0"),
      "%s: tensor '%s' has dtype %s; expected BF16, F16 or F32 (or U8 blocks of a quantised model)",
      st.file.c_str(), st.name.c_str(), st.dtype_name.c_str());
  return q->second == "q8_0" ? DType::kQ8_0 : DType::kQ4_0;
}

void export_gguf(const std::string& in_dir, const std::string& out_path, const QuantMix& mix,
                 const gguf::Vocab& vocab, const std::function<void(size_t, size_t)>& progress,
                 const LoraStack* lora) {
  const ModelConfig config = load_model_config(in_dir);
  QWEN3_CHECK(vocab.tokens.size() == static_cast<size_t>(config.vocab_size) &&
                  vocab.token_types.size() == vocab.tokens.size(),
              "%s: the tokenizer has %zu tokens, config.json's vocab_size is %d", in_dir.c_str(),
              vocab.tokens.size(), config.vocab_size);
  // Mapped, not read: each tensor is converted out of the mapping and its pages dropped, so the input never
  // sits whole in memory beside the tensor being written.
  const SafetensorsSet set = load_safetensors_dir(in_dir, MapMode::kMmap);
  struct Item {
    const StTensor* st;
    DType have, want;
    int64_t rows, cols;  // rows = 0: a vector of cols values
  };
  std::vector<Item> items;
  std::vector<gguf::WriteTensor> tensors;
  for (const WeightSpec& s : weight_specs(config, nullptr)) {
    auto it = set.tensors.find(s.name);
    if (it == set.tensors.end()) {
      QWEN3_CHECK(!s.required, "%s: missing tensor '%s'", in_dir.c_str(), s.name.c_str());
      continue;
    }
    if (s.name == "lm_head.weight" && config.tie_word_embeddings) continue;  // llama.cpp reuses token_embd
    const StTensor& st = it->second;
    const DType have = dtype_of_st(st, set);
    const bool matrix = s.rows > 0;
    // norm weights in f32, as llama.cpp's converter does
    const DType want = matrix ? quant_mix_type(mix, config, s.name, s.cols) : DType::kF32;
    const bool blocks = have == DType::kQ8_0 || have == DType::kQ4_0;
    QWEN3_CHECK(matrix || !blocks, "%s: tensor '%s' is quantised; only matrices may be", st.file.c_str(),
                s.name.c_str());
    const std::vector<int64_t> shape =
        matrix ? std::vector<int64_t>{s.rows,
                                      blocks ? static_cast<int64_t>(dtype_row_bytes(have, s.cols)) : s.cols}
               : std::vector<int64_t>{s.cols};
    QWEN3_CHECK(st.shape == shape && (!matrix || s.cols % dtype_block_values(want) == 0),
                "%s: tensor '%s' does not have the shape config.json implies (or its %lld columns are not "
                "whole blocks of %d for %s)",
                st.file.c_str(), s.name.c_str(), static_cast<long long>(s.cols), dtype_block_values(want),
                dtype_name(want));
    gguf::WriteTensor w;
    w.name = gguf::tensor_name_from_hf(s.name);
    w.type = gguf::ggml_type_of(want);
    w.ne = matrix ? std::vector<int64_t>{s.cols, s.rows} : std::vector<int64_t>{s.cols};
    w.n_bytes = dtype_row_bytes(want, s.cols) * static_cast<size_t>(matrix ? s.rows : 1);
    tensors.push_back(w);
    items.push_back({&st, have, want, matrix ? s.rows : 1, s.cols});
  }
  const std::string name = std::filesystem::path(in_dir).lexically_normal().filename().string();
  gguf::KeyValues kv = gguf_model_metadata(config, mix.file_type, vocab, name.empty() ? "qwen3" : name);
  for (const auto& [key, value] : set.metadata)  // qwen3 synth's note that the weights are random
    if (key.starts_with("qwen3cpp.")) kv.emplace_back(key, Value::str(value));
  gguf::write_file(
      out_path, kv, tensors,
      [&](size_t i, uint8_t* out) {
        const Item& t = items[i];
        const size_t in_row = dtype_row_bytes(t.have, t.cols), out_row = dtype_row_bytes(t.want, t.cols);
        int il = 0, target = 0;
        const std::vector<float> delta = lora && lora_target_of(t.st->name, &il, &target)
                                             ? lora_delta(*lora, il, target)
                                             : std::vector<float>{};
        if (t.have == t.want && delta.empty()) {
          std::memcpy(out, t.st->data, t.st->n_bytes);
        } else {
          std::vector<float> values(static_cast<size_t>(t.cols));
          for (int64_t r = 0; r < t.rows; ++r) {
            kernels::row_to_f32_rowmajor(t.have, t.st->data + r * in_row, t.cols, values.data());
            if (!delta.empty())
              for (int64_t c = 0; c < t.cols; ++c) values[c] += delta[r * t.cols + c];
            kernels::row_from_f32(values.data(), t.cols, t.want, out + r * out_row);
          }
        }
        drop_mapped_pages(t.st->data, t.st->n_bytes);
      },
      progress);
}

}  // namespace qwen3
