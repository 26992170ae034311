#include "model/weights.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/half.h"
#include "core/log.h"
#include "kernels/pack.h"
#include "model/fp8.h"
#include "model/int4_checkpoints.h"

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
    specs.push_back({p + "mlp.up_proj.weight", ff, h, &l.up_proj, nullptr, true, &l.gate_proj});
    specs.push_back({p + "mlp.down_proj.weight", h, ff, &l.down_proj, nullptr, true});
  }
  specs.push_back({"model.norm.weight", 0, h, nullptr, &w->norm, true});
  // With tied embeddings transformers ties lm_head to embed_tokens; a checkpoint may still carry the copy.
  specs.push_back({"lm_head.weight", c.vocab_size, h, &w->lm_head, nullptr, !c.tie_word_embeddings});
  return specs;
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

// Makes the tiled tensor the kernels read (kernels/pack.h) from a row-major file tensor whose rows are in
// dtype `have` (f32/f16/bf16 values, or GGUF blocks in a quantised model), converting or quantising each row
// to `want` on the way. Tiles are independent, so the pool packs them in parallel. When the dtype stays, the
// rows are whole tiles and the file was read into our own memory, each tile is packed in place over its own
// rows (a tile has exactly its rows' bytes): no second copy of the model, no fresh pages to fault in.
// Otherwise the tiles go to a new buffer; from a mapped file they are made a slab at a time and each slab's
// file pages are dropped once packed, so the source is never resident whole beside the result.
// Converted matrices are carved from slabs of at least 64 MiB rather than allocated one by one: a small
// model's layer matrices are a few MiB each, below the size that gets huge pages (core/file.h).
struct WeightSlabs {
  Model& model;
  uint8_t* next = nullptr;
  size_t left = 0;
  uint8_t* take(size_t bytes) {
    bytes = (bytes + 63) & ~size_t{63};
    if (bytes > left) {
      const size_t n = std::max(bytes, size_t{64} << 20);
      model.owned.push_back(aligned_array<uint8_t>(n));
      next = model.owned.back().get();
      left = n;
    }
    uint8_t* p = next;
    next += bytes;
    left -= bytes;
    return p;
  }
};

static Tensor make_matrix(WeightSlabs& slabs, const StTensor& st, int64_t rows, int64_t cols, DType have,
                          DType want, MapMode mode, ThreadPool* pool, bool* in_file) {
  Tensor t;
  t.rows = rows;
  t.cols = cols;
  t.dtype = want;
  t.tiled = true;
  const size_t in_row = dtype_row_bytes(have, cols), out_row = dtype_row_bytes(want, cols);
  const size_t tile_bytes = dtype_tile_bytes(want, cols);
  const bool in_place =
      mode == MapMode::kRead && have == want && rows % kTileRows == 0 && tile_bytes == kTileRows * in_row;
  uint8_t* out;
  if (in_place) {
    out = const_cast<uint8_t*>(st.data);  // our anonymous copy of the file (MapMode::kRead)
    *in_file = true;
  } else {
    out = slabs.take(t.bytes());
  }
  auto pack_tiles = [&](int64_t i0, int64_t i1) {
    std::vector<uint8_t> converted(kTileRows * std::max(in_row, out_row));
    std::vector<float> values(static_cast<size_t>(cols));
    const uint8_t* row_ptrs[kTileRows];
    for (int64_t i = i0; i < i1; ++i) {
      const int n = static_cast<int>(std::min<int64_t>(kTileRows, rows - i * kTileRows));
      const uint8_t* src0 = st.data + i * kTileRows * in_row;
      if (in_place) {  // the tile overwrites its rows: pack from a copy
        std::memcpy(converted.data(), src0, kTileRows * in_row);
        src0 = converted.data();
      }
      for (int r = 0; r < n; ++r) {
        const uint8_t* src = src0 + r * in_row;
        if (have == want) {
          row_ptrs[r] = src;
        } else {
          kernels::row_to_f32_rowmajor(have, src, cols, values.data());
          kernels::row_from_f32(values.data(), cols, want, converted.data() + r * out_row);
          row_ptrs[r] = converted.data() + r * out_row;
        }
      }
      kernels::pack_tile(want, row_ptrs, n, cols, out + i * tile_bytes);
    }
  };
  // Slabs of about 16 MiB of file data: small beside the model, large enough that the pool's barrier per slab
  // costs nothing.
  const int64_t slab =
      mode == MapMode::kMmap
          ? std::max<int64_t>(1, static_cast<int64_t>((size_t{16} << 20) / (kTileRows * in_row)))
          : t.n_tiles();
  for (int64_t s0 = 0; s0 < t.n_tiles(); s0 += slab) {
    const int64_t s1 = std::min(t.n_tiles(), s0 + slab);
    parallel_for(pool, s1 - s0, [&](int64_t i0, int64_t i1) { pack_tiles(s0 + i0, s0 + i1); });
    if (mode == MapMode::kMmap) {
      const size_t begin = static_cast<size_t>(s0) * kTileRows * in_row;
      drop_mapped_pages(st.data + begin,
                        std::min(st.n_bytes, static_cast<size_t>(s1) * kTileRows * in_row) - begin);
    }
  }
  t.data = out;
  return t;
}

// The dtype of a quantised model's U8 matrices, from the file metadata (docs/DESIGN.md, "Quantised models").
static std::optional<DType> file_quantization(const Model& model) {
  auto it = model.files.metadata.find(kQuantizationKey);
  if (it == model.files.metadata.end()) return std::nullopt;
  if (it->second == "q8_0") return DType::kQ8_0;
  if (it->second == "q4_0") return DType::kQ4_0;
  throw_error("%s: unknown %s '%s' in the safetensors metadata (expected q8_0 or q4_0)", model.dir.c_str(),
              kQuantizationKey, it->second.c_str());
}

// What a matrix in dtype `want` must satisfy: whole blocks of the dtype per row, and the dtype of the matrix
// it is multiplied together with (WeightSpec::same_dtype_as).
static void check_matrix_dtype(const WeightSpec& s, const std::vector<WeightSpec>& specs, DType want,
                               const std::string& file) {
  if (s.same_dtype_as) {
    const Tensor& other = *s.same_dtype_as;  // bound before this one: it comes earlier in the table
    QWEN3_ASSERT(other.data != nullptr);
    const char* other_name = "?";
    for (const WeightSpec& o : specs)
      if (o.matrix == s.same_dtype_as) other_name = o.name.c_str();
    QWEN3_CHECK(other.dtype == want,
                "%s: tensor '%s' is %s; expected %s, the dtype of %s (the two are multiplied in one pass; "
                "--dtype converts every matrix to one dtype at load)",
                file.c_str(), s.name.c_str(), dtype_name(want), dtype_name(other.dtype), other_name);
  }
  QWEN3_CHECK(s.cols % dtype_block_values(want) == 0,
              "%s: tensor '%s' has %lld columns; %s needs a multiple of %d", file.c_str(), s.name.c_str(),
              static_cast<long long>(s.cols), dtype_name(want), dtype_block_values(want));
}

// "<m>.weight" -> "<m>" + part: the tensors that replace a quantised layer's weight in AWQ/GPTQ checkpoints.
static std::string part_name(const std::string& weight, const char* part) {
  return weight.substr(0, weight.size() - std::string(".weight").size()) + part;
}

// An AWQ or GPTQ layer "<m>.weight" from <m>.qweight, <m>.qzeros, <m>.scales and GPTQ's optional <m>.g_idx
// (model/int4_checkpoints.h): q4_1 unless --dtype.
static void bind_int4_matrix(Model& model, WeightSpec& s, const std::vector<WeightSpec>& specs,
                             const Int4Scheme& scheme, const LoadOptions& options, WeightSlabs& slabs,
                             ThreadPool* pool) {
  Int4Tensors parts;
  const StTensor** slot[4] = {&parts.qweight, &parts.qzeros, &parts.scales, &parts.g_idx};
  const char* suffix[4] = {".qweight", ".qzeros", ".scales", ".g_idx"};
  for (int i = 0; i < 4; ++i) {
    auto it = model.files.tensors.find(part_name(s.name, suffix[i]));
    if (it != model.files.tensors.end()) {
      *slot[i] = &it->second;
      continue;
    }
    QWEN3_CHECK(i == 3, "%s: %s layer '%s' has no tensor '%s'", model.dir.c_str(), scheme.name(),
                part_name(s.name, "").c_str(), part_name(s.name, suffix[i]).c_str());
  }
  QWEN3_CHECK(!parts.g_idx || scheme.format == Int4Scheme::Format::kGptq,
              "%s: unexpected tensor '%s' (g_idx is GPTQ's, not AWQ's)", model.dir.c_str(),
              part_name(s.name, ".g_idx").c_str());
  const DType want = options.dtype ? *options.dtype : DType::kQ4_1;
  check_matrix_dtype(s, specs, want, parts.qweight->file);
  *s.matrix = make_int4_matrix(
      scheme, parts, s.rows, s.cols, want,
      slabs.take(dtype_tile_bytes(want, s.cols) * static_cast<size_t>((s.rows + kTileRows - 1) / kTileRows)),
      pool);
  s.matrix->bf16_dot = want == DType::kBF16 && options.bf16_dot;
}

void bind_weights(Model& model, const LoadOptions& options, ThreadPool* pool) {
  const ModelConfig& c = model.config;
  const std::optional<DType> quantized = file_quantization(model);
  // An FP8 checkpoint (model/fp8.h): its F8_E4M3 matrices come with a scale tensor each.
  const std::optional<Fp8Scheme> fp8 = read_fp8_scheme(model.dir);
  // An AWQ or GPTQ checkpoint (model/int4_checkpoints.h): a quantised linear layer's "<m>.weight" is three or
  // four tensors instead.
  const std::optional<Int4Scheme> int4 = read_int4_scheme(model.dir);
  auto specs = weight_specs(c, &model.weights);
  std::set<std::string> known;
  for (auto& s : specs) {
    known.insert(s.name);
    if (fp8 && s.matrix) known.insert(s.name + fp8->scale_suffix);
    if (int4 && s.matrix && s.name.ends_with(".weight"))
      for (const char* part : {".qweight", ".qzeros", ".scales", ".g_idx"})
        known.insert(part_name(s.name, part));
  }
  for (auto& [name, st] : model.files.tensors) {
    QWEN3_CHECK(
        fp8 || (st.dtype_name != "F8_E4M3" && !name.ends_with("_scale_inv")),
        "%s: tensor '%s' is FP8 (%s) but config.json has no quantization_config saying how it is scaled",
        st.file.c_str(), name.c_str(), st.dtype_name.c_str());
    QWEN3_CHECK(known.count(name),
                "%s: unexpected tensor '%s' (not part of a Qwen3 model with this config.json)",
                st.file.c_str(), name.c_str());
  }
  const std::string where = model.dir;
  WeightSlabs slabs{model};
  for (auto& s : specs) {
    if (int4 && s.matrix && s.name.ends_with(".weight") &&
        model.files.tensors.count(part_name(s.name, ".qweight"))) {
      bind_int4_matrix(model, s, specs, *int4, options, slabs, pool);
      continue;
    }
    auto it = model.files.tensors.find(s.name);
    if (it == model.files.tensors.end()) {
      QWEN3_CHECK(!s.required, "%s: missing tensor '%s'", where.c_str(), s.name.c_str());
      continue;
    }
    const StTensor& st = it->second;
    // GGUF blocks: of a GGUF file, or of a quantised safetensors model (U8).
    const bool block_data = s.matrix && (st.blocks || st.dtype_name == "U8");
    const bool fp8_data = s.matrix && st.dtype_name == "F8_E4M3";
    const StTensor* fp8_scale = nullptr;
    if (fp8_data) {
      QWEN3_CHECK(fp8,
                  "%s: tensor '%s' is F8_E4M3 but config.json has no quantization_config saying how it is "
                  "scaled",
                  st.file.c_str(), s.name.c_str());
      auto sc = model.files.tensors.find(s.name + fp8->scale_suffix);
      QWEN3_CHECK(sc != model.files.tensors.end(), "%s: F8_E4M3 tensor '%s' has no scale tensor '%s' (%s)",
                  st.file.c_str(), s.name.c_str(), (s.name + fp8->scale_suffix).c_str(), fp8->method.c_str());
      fp8_scale = &sc->second;
    }
    QWEN3_CHECK(st.dtype != StDType::kOther || block_data || fp8_data,
                "%s: tensor '%s' has dtype %s; expected BF16, F16 or F32%s", st.file.c_str(), s.name.c_str(),
                st.dtype_name.c_str(), s.matrix ? " (or U8 blocks in a quantised model)" : "");
    QWEN3_CHECK(!block_data || st.blocks || quantized,
                "%s: tensor '%s' is U8 but the file's metadata has no %s entry saying how it is quantised",
                st.file.c_str(), s.name.c_str(), kQuantizationKey);
    std::string found;
    for (size_t i = 0; i < st.shape.size(); ++i) found += (i ? ", " : "") + std::to_string(st.shape[i]);
    if (s.vector) {
      QWEN3_CHECK(st.shape.size() == 1 && st.shape[0] == s.cols,
                  "%s: tensor '%s' has shape [%s]; config.json implies [%lld]", st.file.c_str(),
                  s.name.c_str(), found.c_str(), static_cast<long long>(s.cols));
      s.vector->resize(s.cols);
      for (int64_t i = 0; i < s.cols; ++i) (*s.vector)[i] = load_value(st.data, st.dtype, i);
    } else {
      const DType have = fp8_data     ? DType::kF8E4M3
                         : block_data ? (st.blocks ? *st.blocks : *quantized)
                                      : *value_dtype(st.dtype);
      if (block_data) {
        QWEN3_CHECK(s.cols % dtype_block_values(have) == 0,
                    "%s: tensor '%s' is %s but its %lld columns are not whole blocks", st.file.c_str(),
                    s.name.c_str(), dtype_name(have), static_cast<long long>(s.cols));
        const int64_t row_bytes = static_cast<int64_t>(dtype_row_bytes(have, s.cols));
        QWEN3_CHECK(
            st.shape.size() == 2 && st.shape[0] == s.rows && st.shape[1] == row_bytes,
            "%s: tensor '%s' has shape [%s]; a %s matrix of [%lld, %lld] is stored as U8 [%lld, %lld]",
            st.file.c_str(), s.name.c_str(), found.c_str(), dtype_name(have), static_cast<long long>(s.rows),
            static_cast<long long>(s.cols), static_cast<long long>(s.rows),
            static_cast<long long>(row_bytes));
      } else {
        QWEN3_CHECK(st.shape.size() == 2 && st.shape[0] == s.rows && st.shape[1] == s.cols,
                    "%s: tensor '%s' has shape [%s]; config.json implies [%lld, %lld]", st.file.c_str(),
                    s.name.c_str(), found.c_str(), static_cast<long long>(s.rows),
                    static_cast<long long>(s.cols));
      }
      if (s.matrix == &model.weights.lm_head && c.tie_word_embeddings) {
        QWEN3_LOG_DEBUG("%s: ignoring lm_head.weight: tie_word_embeddings is true", st.file.c_str());
        continue;
      }
      const bool table = s.matrix == &model.weights.embed_tokens || s.matrix == &model.weights.lm_head;
      const DType want = table && options.embed_dtype ? *options.embed_dtype
                         : options.dtype              ? *options.dtype
                                                      : have;
      check_matrix_dtype(s, specs, want, st.file);
      bool in_file = false;
      if (fp8_data)
        *s.matrix = make_fp8_matrix(*fp8, st, *fp8_scale, s.rows, s.cols, want,
                                    slabs.take(dtype_tile_bytes(want, s.cols) *
                                               static_cast<size_t>((s.rows + kTileRows - 1) / kTileRows)),
                                    pool);
      else
        *s.matrix = make_matrix(slabs, st, s.rows, s.cols, have, want, options.map_mode, pool, &in_file);
      s.matrix->bf16_dot = want == DType::kBF16 && options.bf16_dot;
      model.weights_in_files = model.weights_in_files || in_file;
    }
  }
  if (c.tie_word_embeddings) model.weights.lm_head = model.weights.embed_tokens;
}

}  // namespace qwen3
