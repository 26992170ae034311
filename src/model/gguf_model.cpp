// A GGUF file as a Model: config from the qwen3.* keys, the generation settings, and each tensor bound under
// its Hugging Face name (tensor_name_from_hf below), so that weights.cpp checks and tiles it exactly as it
// does a safetensors tensor. docs/DESIGN.md ("GGUF").
#include "model/gguf_model.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/model.h"
#include "model/weights.h"

namespace qwen3 {

namespace gguf {

ModelConfig read_config(const File& f) {
  const std::string& arch = f.get_str("general.architecture");
  QWEN3_CHECK(arch == "qwen3", "%s: general.architecture is \"%s\"; this engine runs dense \"qwen3\" models",
              f.path.c_str(), arch.c_str());
  const std::string a = "qwen3.";
  const uint32_t hidden = f.get_u32(a + "embedding_length"), heads = f.get_u32(a + "attention.head_count");
  const uint32_t head_dim = f.get_u32(a + "attention.key_length", heads ? hidden / heads : 0);
  QWEN3_CHECK(f.get_u32(a + "attention.value_length", head_dim) == head_dim,
              "%s: %sattention.value_length differs from key_length (unsupported)", f.path.c_str(),
              a.c_str());
  QWEN3_CHECK(
      f.get_u32(a + "rope.dimension_count", head_dim) == head_dim,
      "%s: %srope.dimension_count is not the head size %u (partial rotary embeddings are unsupported)",
      f.path.c_str(), a.c_str(), head_dim);
  const std::string scaling = f.has(a + "rope.scaling.type") ? f.get_str(a + "rope.scaling.type") : "none";
  QWEN3_CHECK(scaling == "none" || scaling == "yarn",
              "%s: unsupported %srope.scaling.type \"%s\" (supported: yarn, none)", f.path.c_str(), a.c_str(),
              scaling.c_str());
  const TensorInfo* embd = nullptr;
  bool has_output = false;
  for (const TensorInfo& t : f.tensors) {
    if (t.name == "token_embd.weight") embd = &t;
    has_output = has_output || t.name == "output.weight";
  }
  QWEN3_CHECK(embd && embd->ne.size() == 2, "%s: no 2-D tensor token_embd.weight", f.path.c_str());
  // The fields of config.json, checked by the same parser as a Hugging Face model's.
  nlohmann::json c = {
      {"model_type", "qwen3"},
      {"hidden_size", hidden},
      {"intermediate_size", f.get_u32(a + "feed_forward_length")},
      {"num_hidden_layers", f.get_u32(a + "block_count")},
      {"num_attention_heads", heads},
      {"num_key_value_heads", f.get_u32(a + "attention.head_count_kv", heads)},
      {"head_dim", head_dim},
      {"vocab_size", embd->ne[1]},
      {"max_position_embeddings", f.get_u32(a + "context_length")},
      {"rms_norm_eps", f.get_f64(a + "attention.layer_norm_rms_epsilon", -1)},
      {"rope_theta", f.get_f64(a + "rope.freq_base", 10000.0)},
      {"tie_word_embeddings", !has_output},
  };
  if (scaling == "yarn") {
    // llama.cpp's keys for YaRN; its attention factor keys multiply the default mscale in llama.cpp, which
    // transformers' attention_factor replaces, so a file setting them is refused rather than misread.
    for (const char* k : {"rope.scaling.attn_factor", "rope.scaling.yarn_attn_factor"})
      QWEN3_CHECK(f.get_f64(a + k, 1.0) == 1.0, "%s: unsupported %s%s (YaRN with a set attention factor)",
                  f.path.c_str(), a.c_str(), k);
    nlohmann::json rs = {{"rope_type", "yarn"}, {"factor", f.get_f64(a + "rope.scaling.factor", 0.0)}};
    if (f.has(a + "rope.scaling.original_context_length"))
      rs["original_max_position_embeddings"] = f.get_u32(a + "rope.scaling.original_context_length");
    if (f.has(a + "rope.scaling.yarn_beta_fast"))
      rs["beta_fast"] = f.get_f64(a + "rope.scaling.yarn_beta_fast", 0);
    if (f.has(a + "rope.scaling.yarn_beta_slow"))
      rs["beta_slow"] = f.get_f64(a + "rope.scaling.yarn_beta_slow", 0);
    c["rope_scaling"] = rs;
  }
  QWEN3_CHECK(c["rms_norm_eps"].get<double>() > 0, "%s: missing key %sattention.layer_norm_rms_epsilon",
              f.path.c_str(), a.c_str());
  if (f.has("tokenizer.ggml.bos_token_id")) c["bos_token_id"] = f.get_u32("tokenizer.ggml.bos_token_id");
  if (f.has("tokenizer.ggml.eos_token_id")) c["eos_token_id"] = f.get_u32("tokenizer.ggml.eos_token_id");
  return parse_model_config(c.dump(), f.path);
}

std::string tensor_name_from_hf(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  static const std::pair<const char*, const char*> kLayer[] = {
      {"input_layernorm", "attn_norm"},    {"self_attn.q_proj", "attn_q"},
      {"self_attn.k_proj", "attn_k"},      {"self_attn.v_proj", "attn_v"},
      {"self_attn.o_proj", "attn_output"}, {"self_attn.q_norm", "attn_q_norm"},
      {"self_attn.k_norm", "attn_k_norm"}, {"post_attention_layernorm", "ffn_norm"},
      {"mlp.gate_proj", "ffn_gate"},       {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"}};
  const std::string prefix = "model.layers.";
  if (hf.starts_with(prefix)) {
    size_t dot = hf.find('.', prefix.size());
    if (dot != std::string::npos && dot > prefix.size()) {
      std::string il = hf.substr(prefix.size(), dot - prefix.size());
      std::string rest = hf.substr(dot + 1);
      for (auto [from, to] : kLayer)
        if (rest == std::string(from) + ".weight") return "blk." + il + "." + to + ".weight";
    }
  }
  throw_error("tensor '%s' has no GGUF name (not part of a Qwen3 model)", hf.c_str());
}

}  // namespace gguf

static GenerationConfig generation_from_gguf(const gguf::File& f, const gguf::Vocab& v) {
  // GGUF has no generation_config.json: Qwen3's own (sampling on, T 0.6, top-k 20, top-p 0.95) unless the
  // file has llama.cpp's general.sampling.* keys; the stop ids are the EOS id and the control tokens Qwen
  // ends turns and documents with (151645 and 151643 for Qwen3, as its generation_config.json has them).
  GenerationConfig g;
  g.do_sample = true;
  g.temperature = static_cast<float>(f.get_f64("general.sampling.temp", 0.6));
  g.top_k = static_cast<int>(f.get_u32("general.sampling.top_k", 20));
  g.top_p = static_cast<float>(f.get_f64("general.sampling.top_p", 0.95));
  g.min_p = static_cast<float>(f.get_f64("general.sampling.min_p", 0.0));
  auto add = [&](uint32_t id) {
    if (std::find(g.eos_token_ids.begin(), g.eos_token_ids.end(), int(id)) == g.eos_token_ids.end())
      g.eos_token_ids.push_back(static_cast<int>(id));
  };
  if (v.eos) add(*v.eos);
  if (f.has("tokenizer.ggml.eot_token_id")) add(f.get_u32("tokenizer.ggml.eot_token_id"));
  for (size_t id = 0; id < v.tokens.size(); ++id)
    if (v.token_types[id] == gguf::kControl &&
        (v.tokens[id] == "<|im_end|>" || v.tokens[id] == "<|endoftext|>"))
      add(static_cast<uint32_t>(id));
  if (v.pad) g.pad_token_id = static_cast<int>(*v.pad);
  return g;
}

void open_gguf_model(Model& m, const std::string& path, MapMode mode,
                     const std::function<void(size_t, size_t)>& progress) {
  gguf::File f = gguf::read_file(path, mode, progress);
  m.config = gguf::read_config(f);
  const gguf::Vocab vocab = gguf::read_vocab(f);
  m.generation = generation_from_gguf(f, vocab);
  int n_tokens = 0;  // the ids before the padding ("[PAD<id>]", UNUSED) at the end of the vocabulary
  for (size_t id = 0; id < vocab.tokens.size(); ++id)
    if (vocab.token_types[id] != gguf::kUnused) n_tokens = static_cast<int>(id) + 1;
  m.n_vocab_tokens = n_tokens > 0 && n_tokens < m.config.vocab_size ? n_tokens : m.config.vocab_size;
  for (const auto& [key, value] : f.kv)
    if (key.starts_with("qwen3cpp.") && value.type == gguf::ValueType::kString)
      m.files.metadata[key] = value.s;

  std::map<std::string, std::string> hf_names;  // GGUF name -> Hugging Face name
  for (const WeightSpec& s : weight_specs(m.config, nullptr))
    hf_names[gguf::tensor_name_from_hf(s.name)] = s.name;
  for (const gguf::TensorInfo& t : f.tensors) {
    auto it = hf_names.find(t.name);
    QWEN3_CHECK(it != hf_names.end(),
                "%s: unexpected tensor '%s' (not part of a Qwen3 model with these keys)", path.c_str(),
                t.name.c_str());
    const std::optional<DType> d = gguf::dtype_of_ggml(t.type);
    QWEN3_CHECK(
        d,
        "%s: tensor '%s' is %s; this engine reads f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, "
        "q3_K, q4_K, q5_K and q6_K tensors (convert the original model with qwen3 quantize)",
        path.c_str(), t.name.c_str(), gguf::ggml_type_name(t.type).c_str());
    StTensor st;
    st.name = it->second;
    st.file = path;
    st.data = t.data;
    st.n_bytes = t.n_bytes;
    st.dtype_name = gguf::ggml_type_name(t.type);
    // The shape in safetensors' order (outermost first); block rows as U8 [rows, row bytes].
    st.shape.assign(t.ne.rbegin(), t.ne.rend());
    if (dtype_block_values(*d) > 1) {
      st.blocks = *d;
      st.shape.back() = static_cast<int64_t>(dtype_row_bytes(*d, t.ne[0]));
    } else {
      st.dtype = *d == DType::kF32 ? StDType::kF32 : *d == DType::kF16 ? StDType::kF16 : StDType::kBF16;
    }
    m.files.tensors.emplace(st.name, std::move(st));
  }
  m.files.files.push_back(std::move(f.buffer));
}

}  // namespace qwen3
