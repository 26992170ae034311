#include "model/weights.h"

#include <cstring>
#include <set>

#include "core/error.h"
#include "core/half.h"
#include "core/log.h"

namespace qwen3 {

std::vector<WeightSpec> weight_specs(const ModelConfig& c, ModelWeights* w) {
  ModelWeights dummy;
  if (!w) w = &dummy;
  w->layers.resize(c.num_hidden_layers);
  const int64_t h = c.hidden_size, q = int64_t{c.num_attention_heads} * c.head_dim,
                kv = int64_t{c.num_key_value_heads} * c.head_dim, ff = c.intermediate_size, d = c.head_dim;
  std::vector<WeightSpec> specs;
  specs.push_back({"model.embed_tokens.weight", c.vocab_size, h, &w->embed_tokens, nullptr, true});
  for (int il = 0; il < c.num_hidden_layers; ++il) {
    LayerWeights& l = w->layers[il];
    std::string p = "model.layers." + std::to_string(il) + ".";
    specs.push_back({p + "input_layernorm.weight", 0, h, nullptr, &l.input_layernorm, true});
    specs.push_back({p + "self_attn.q_proj.weight", q, h, &l.q_proj, nullptr, true});
    specs.push_back({p + "self_attn.k_proj.weight", kv, h, &l.k_proj, nullptr, true});
    specs.push_back({p + "self_attn.v_proj.weight", kv, h, &l.v_proj, nullptr, true});
    specs.push_back({p + "self_attn.o_proj.weight", h, q, &l.o_proj, nullptr, true});
    specs.push_back({p + "self_attn.q_norm.weight", 0, d, nullptr, &l.q_norm, true});
    specs.push_back({p + "self_attn.k_norm.weight", 0, d, nullptr, &l.k_norm, true});
    specs.push_back(
        {p + "post_attention_layernorm.weight", 0, h, nullptr, &l.post_attention_layernorm, true});
    specs.push_back({p + "mlp.gate_proj.weight", ff, h, &l.gate_proj, nullptr, true});
    specs.push_back({p + "mlp.up_proj.weight", ff, h, &l.up_proj, nullptr, true});
    specs.push_back({p + "mlp.down_proj.weight", h, ff, &l.down_proj, nullptr, true});
  }
  specs.push_back({"model.norm.weight", 0, h, nullptr, &w->norm, true});
  // With tied embeddings transformers ties lm_head to embed_tokens; a checkpoint may still carry the copy.
  specs.push_back({"lm_head.weight", c.vocab_size, h, &w->lm_head, nullptr, !c.tie_word_embeddings});
  return specs;
}

static DType st_to_dtype(StDType t) {
  switch (t) {
    case StDType::kF32:
      return DType::kF32;
    case StDType::kF16:
      return DType::kF16;
    case StDType::kBF16:
      return DType::kBF16;
    default:
      return DType::kF32;
  }
}

static float load_value(const uint8_t* p, StDType t, int64_t i) {
  uint16_t h;
  switch (t) {
    case StDType::kF32: {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      return f;
    }
    case StDType::kF16:
      std::memcpy(&h, p + 2 * i, 2);
      return f16_to_f32(h);
    case StDType::kBF16:
      std::memcpy(&h, p + 2 * i, 2);
      return bf16_to_f32(h);
    default:
      return 0;
  }
}

// Makes a tensor the kernels can use: the file's bytes in place when dtype and alignment allow, else a
// converted, 64-byte aligned copy owned by the model.
static Tensor make_matrix(Model& model, const StTensor& st, DType want) {
  DType have = st_to_dtype(st.dtype);
  Tensor t;
  t.rows = st.shape[0];
  t.cols = st.shape[1];
  t.dtype = want;
  bool aligned = reinterpret_cast<uintptr_t>(st.data) % 64 == 0;
  if (have == want && aligned) {
    t.data = st.data;
    return t;
  }
  int64_t n = t.rows * t.cols;
  auto buf = aligned_array<uint8_t>(dtype_row_bytes(want, t.cols) * t.rows);
  if (have == want) {
    std::memcpy(buf.get(), st.data, st.n_bytes);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      float v = load_value(st.data, st.dtype, i);
      switch (want) {
        case DType::kF32:
          std::memcpy(buf.get() + 4 * i, &v, 4);
          break;
        case DType::kF16: {
          uint16_t h = f32_to_f16(v);
          std::memcpy(buf.get() + 2 * i, &h, 2);
          break;
        }
        case DType::kBF16: {
          uint16_t h = f32_to_bf16(v);
          std::memcpy(buf.get() + 2 * i, &h, 2);
          break;
        }
        default:
          throw_error("conversion to %s at load is not supported", dtype_name(want));
      }
    }
  }
  t.data = buf.get();
  model.owned.push_back(std::move(buf));
  return t;
}

void bind_weights(Model& model, const LoadOptions& options) {
  const ModelConfig& c = model.config;
  auto specs = weight_specs(c, &model.weights);
  std::set<std::string> known;
  for (auto& s : specs) known.insert(s.name);
  for (auto& [name, st] : model.files.tensors) {
    QWEN3_CHECK(known.count(name),
                "%s: unexpected tensor '%s' (not part of a Qwen3 model with this config.json)",
                st.file.c_str(), name.c_str());
  }
  const std::string where = model.dir;
  for (auto& s : specs) {
    auto it = model.files.tensors.find(s.name);
    if (it == model.files.tensors.end()) {
      QWEN3_CHECK(!s.required, "%s: missing tensor '%s'", where.c_str(), s.name.c_str());
      continue;
    }
    const StTensor& st = it->second;
    QWEN3_CHECK(st.dtype != StDType::kOther, "%s: tensor '%s' has dtype %s; expected BF16, F16 or F32",
                st.file.c_str(), s.name.c_str(), st.dtype_name.c_str());
    std::string found;
    for (size_t i = 0; i < st.shape.size(); ++i) found += (i ? ", " : "") + std::to_string(st.shape[i]);
    if (s.vector) {
      QWEN3_CHECK(st.shape.size() == 1 && st.shape[0] == s.cols,
                  "%s: tensor '%s' has shape [%s]; config.json implies [%lld]", st.file.c_str(),
                  s.name.c_str(), found.c_str(), static_cast<long long>(s.cols));
      s.vector->resize(s.cols);
      for (int64_t i = 0; i < s.cols; ++i) (*s.vector)[i] = load_value(st.data, st.dtype, i);
    } else {
      QWEN3_CHECK(st.shape.size() == 2 && st.shape[0] == s.rows && st.shape[1] == s.cols,
                  "%s: tensor '%s' has shape [%s]; config.json implies [%lld, %lld]", st.file.c_str(),
                  s.name.c_str(), found.c_str(), static_cast<long long>(s.rows),
                  static_cast<long long>(s.cols));
      if (s.matrix == &model.weights.lm_head && c.tie_word_embeddings) {
        QWEN3_LOG_DEBUG("%s: ignoring lm_head.weight: tie_word_embeddings is true", st.file.c_str());
        continue;
      }
      DType want = options.dtype ? *options.dtype : st_to_dtype(st.dtype);
      *s.matrix = make_matrix(model, st, want);
    }
  }
  if (c.tie_word_embeddings) model.weights.lm_head = model.weights.embed_tokens;
}

}  // namespace qwen3
