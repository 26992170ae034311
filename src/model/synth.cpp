#include "model/synth.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half.h"
#include "formats/safetensors_writer.h"
#include "model/weights.h"

namespace qwen3 {

using ojson = nlohmann::ordered_json;

namespace {

struct Preset {
  const char* name;
  int layers, hidden, intermediate, heads, kv_heads, head_dim;
  bool tied;
};

// tiny: the smallest model with every feature; small: untied head and head_dim != hidden / heads; tiny-k:
// the smallest whose matrices are whole 256-value blocks (k-quants); qwen3-0.6b: the real shapes.
constexpr Preset kPresets[] = {
    {"tiny", 2, 64, 192, 4, 2, 16, true},
    {"tiny-k", 2, 256, 768, 4, 2, 64, true},
    {"small", 5, 128, 384, 4, 2, 48, false},
    {"qwen3-0.6b", 28, 1024, 3072, 16, 8, 128, true},
};

const Preset& find_preset(const std::string& name) {
  for (const Preset& p : kPresets)
    if (name == p.name) return p;
  throw_error("unknown preset '%s' (choose tiny, tiny-k, small or qwen3-0.6b)", name.c_str());
}

// The real Qwen3-0.6B config.json, field for field, with the preset's sizes.
ojson config_json(const Preset& p) {
  return ojson{{"architectures", {"Qwen3ForCausalLM"}},
               {"attention_bias", false},
               {"attention_dropout", 0.0},
               {"bos_token_id", 151643},
               {"eos_token_id", 151645},
               {"head_dim", p.head_dim},
               {"hidden_act", "silu"},
               {"hidden_size", p.hidden},
               {"initializer_range", 0.02},
               {"intermediate_size", p.intermediate},
               {"max_position_embeddings", 40960},
               {"max_window_layers", p.layers},
               {"model_type", "qwen3"},
               {"num_attention_heads", p.heads},
               {"num_hidden_layers", p.layers},
               {"num_key_value_heads", p.kv_heads},
               {"rms_norm_eps", 1e-06},
               {"rope_scaling", nullptr},
               {"rope_theta", 1000000},
               {"sliding_window", nullptr},
               {"tie_word_embeddings", p.tied},
               {"torch_dtype", "bfloat16"},
               {"transformers_version", "4.51.0"},
               {"use_cache", true},
               {"use_sliding_window", false},
               {"vocab_size", 151936}};
}

ojson generation_config_json() {
  return ojson{{"bos_token_id", 151643},
               {"do_sample", true},
               {"eos_token_id", {151645, 151643}},
               {"pad_token_id", 151643},
               {"temperature", 0.6},
               {"top_k", 20},
               {"top_p", 0.95},
               {"transformers_version", "4.51.0"}};
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

// How a tensor is drawn: uniform on [center - half_width, center + half_width].
struct Init {
  float center, half_width;
};

// Scales that keep the random network numerically healthy: inputs of every projection have RMS ~1 (they
// follow an RMSNorm), so weights of std 1/sqrt(fan_in) give outputs of RMS ~1; projections that write into
// the residual stream (o_proj, down_proj) are scaled to the embeddings' RMS so no layer drowns the others;
// the embedding RMS is chosen so logits have a standard deviation of about 2 (peaked, not uniform, not
// exploding). Output RMS of o_proj and down_proj relative to the embeddings: large enough that what a layer
// computes, not the current token's own embedding, decides the next token (a tied head otherwise just repeats
// the input).
constexpr float kResidualGain = 12.0f;

Init init_for(const std::string& name, const ModelConfig& c) {
  const float sqrt3 = std::sqrt(3.0f);
  const float embed_std = 2.0f / std::sqrt(static_cast<float>(c.hidden_size));
  auto uniform = [&](float stddev) { return Init{0.0f, stddev * sqrt3}; };
  if (name.find("norm") != std::string::npos) return Init{1.0f, 0.1f};
  if (name.find("embed_tokens") != std::string::npos || name == "lm_head.weight") return uniform(embed_std);
  if (name.find("o_proj") != std::string::npos)
    return uniform(kResidualGain * embed_std /
                   std::sqrt(static_cast<float>(c.num_attention_heads * c.head_dim)));
  if (name.find("down_proj") != std::string::npos)
    return uniform(kResidualGain * embed_std / std::sqrt(static_cast<float>(c.intermediate_size)));
  return uniform(1.0f / std::sqrt(static_cast<float>(c.hidden_size)));
}

void fill_tensor(const std::string& name, const ModelConfig& c, uint64_t seed, const std::string& dtype,
                 int64_t n, uint8_t* out) {
  uint64_t state = seed ^ fnv1a(name);
  Init init = init_for(name, c);
  for (int64_t i = 0; i < n; ++i) {
    // 24 random bits -> uniform in [-1, 1)
    float u = static_cast<float>(splitmix64(state) >> 40) * (2.0f / 16777216.0f) - 1.0f;
    float v = init.center + init.half_width * u;
    if (dtype == "F32") {
      std::memcpy(out + 4 * i, &v, 4);
    } else {
      uint16_t h = dtype == "BF16" ? f32_to_bf16(v) : f32_to_f16(v);
      std::memcpy(out + 2 * i, &h, 2);
    }
  }
}

void write_json(const std::string& path, const ojson& j) {
  std::ofstream out(path, std::ios::binary);
  out << j.dump(2) << "\n";
  QWEN3_CHECK(out.good(), "%s: cannot write", path.c_str());
}

}  // namespace

ModelConfig synth_preset_config(const std::string& preset) {
  return parse_model_config(config_json(find_preset(preset)).dump(), "preset " + preset);
}

int64_t write_synth_model(const SynthOptions& opt) {
  const Preset& p = find_preset(opt.preset);
  std::string st_dtype = opt.dtype == "bf16"  ? "BF16"
                         : opt.dtype == "f16" ? "F16"
                         : opt.dtype == "f32" ? "F32"
                                              : "";
  QWEN3_CHECK(!st_dtype.empty(), "--dtype %s: choose bf16, f16 or f32", opt.dtype.c_str());
  QWEN3_CHECK(opt.shards >= 1 && opt.shards <= 99, "--shards %d: choose 1 to 99", opt.shards);
  QWEN3_CHECK(!opt.out_dir.empty(), "--out is required");
  std::filesystem::create_directories(opt.out_dir);
  ojson cfg = config_json(p);
  cfg["torch_dtype"] = opt.dtype == "bf16" ? "bfloat16" : opt.dtype == "f16" ? "float16" : "float32";
  if (!opt.rope_scaling.empty()) {
    try {
      cfg["rope_scaling"] = ojson::parse(opt.rope_scaling);
    } catch (const std::exception& e) {
      throw_error("--rope-scaling: malformed JSON: %s", e.what());
    }
  }
  ModelConfig c = parse_model_config(cfg.dump(), "preset");

  std::vector<StWriteTensor> tensors;
  int64_t n_params = 0;
  size_t elem = st_dtype == "F32" ? 4 : 2;
  for (const WeightSpec& s : weight_specs(c, nullptr)) {
    if (s.name == "lm_head.weight" && c.tie_word_embeddings)
      continue;  // tied: not stored, as in the real files
    StWriteTensor t;
    t.name = s.name;
    t.dtype = st_dtype;
    t.shape = s.rows ? std::vector<int64_t>{s.rows, s.cols} : std::vector<int64_t>{s.cols};
    int64_t n = s.rows ? s.rows * s.cols : s.cols;
    t.n_bytes = static_cast<size_t>(n) * elem;
    n_params += n;
    tensors.push_back(t);
  }

  // Shards: consecutive tensors; a shard closes once it holds its fair share of the bytes still to place, and
  // every shard gets at least one tensor (a model whose embedding outweighs the rest still fills them all).
  QWEN3_CHECK(static_cast<size_t>(opt.shards) <= tensors.size(),
              "--shards %d: the model has only %zu tensors", opt.shards, tensors.size());
  size_t total_bytes = 0;
  for (auto& t : tensors) total_bytes += t.n_bytes;
  std::vector<std::vector<size_t>> shard_of(opt.shards);
  size_t remaining = total_bytes, in_shard = 0;
  int shard = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    shard_of[shard].push_back(i);
    in_shard += tensors[i].n_bytes;
    remaining -= tensors[i].n_bytes;
    size_t shards_left = opt.shards - shard - 1, tensors_left = tensors.size() - i - 1;
    if (shards_left > 0 &&
        (in_shard >= (in_shard + remaining) / (shards_left + 1) || tensors_left == shards_left)) {
      ++shard;
      in_shard = 0;
    }
  }
  auto shard_name = [&](int i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i + 1, opt.shards);
    return opt.shards == 1 ? std::string("model.safetensors") : std::string(buf);
  };
  ojson weight_map = ojson::object();
  for (int s = 0; s < opt.shards; ++s) {
    std::vector<StWriteTensor> part;
    for (size_t i : shard_of[s]) part.push_back(tensors[i]);
    for (auto& t : part) weight_map[t.name] = shard_name(s);
    write_safetensors(
        opt.out_dir + "/" + shard_name(s), part,
        {{"format", "pt"}, {"qwen3cpp.synthetic", "random weights from qwen3 synth --preset " + opt.preset}},
        [&](size_t i, uint8_t* out) {
          int64_t n = static_cast<int64_t>(part[i].n_bytes / elem);
          fill_tensor(part[i].name, c, opt.seed, st_dtype, n, out);
        });
  }
  std::filesystem::remove(opt.out_dir + "/model.safetensors.index.json");
  if (opt.shards > 1) {
    std::filesystem::remove(opt.out_dir + "/model.safetensors");
    write_json(opt.out_dir + "/model.safetensors.index.json",
               ojson{{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}});
  }
  write_json(opt.out_dir + "/config.json", cfg);
  write_json(opt.out_dir + "/generation_config.json", generation_config_json());
  if (!opt.tokenizer_dir.empty()) {
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
      std::string src = opt.tokenizer_dir + "/" + f;
      QWEN3_CHECK(std::filesystem::exists(src), "%s: not found (run scripts/fetch-tokenizer)", src.c_str());
      std::filesystem::copy_file(src, opt.out_dir + "/" + f,
                                 std::filesystem::copy_options::overwrite_existing);
    }
  }
  return n_params;
}

}  // namespace qwen3
