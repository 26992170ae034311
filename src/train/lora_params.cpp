#include "train/lora_params.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"

namespace qwen3 {

namespace {

// splitmix64: a portable, seedable stream (the same A on every platform and standard library).
struct SplitMix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

}  // namespace

float LoraTrainConfig::scaling() const {
  return rslora ? alpha / std::sqrt(static_cast<float>(rank)) : alpha / static_cast<float>(rank);
}

std::array<bool, kLoraTargets> parse_train_targets(const std::string& spec) {
  std::array<bool, kLoraTargets> t{};
  if (spec == "all-linear") {
    t.fill(true);
    return t;
  }
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    const std::string name = spec.substr(start, end - start);
    int target = 0;
    while (target < kLoraTargets && name != lora_target_name(target)) ++target;
    QWEN3_CHECK(
        target < kLoraTargets,
        "--target: unknown module '%s' (all-linear, or a list of q_proj, k_proj, v_proj, o_proj, gate_proj, "
        "up_proj, down_proj)",
        name.c_str());
    t[target] = true;
    start = end + 1;
  }
  return t;
}

int64_t LoraParams::n_params() const {
  int64_t n = 0;
  for (const auto& l : layers)
    for (const LoraModuleParams& m : l) n += static_cast<int64_t>(m.a.size() + m.b.size());
  return n;
}

LoraParams make_lora_params(const ModelConfig& c, const LoraTrainConfig& config, uint64_t seed) {
  QWEN3_CHECK(config.rank >= 1, "--rank must be at least 1");
  LoraParams p;
  p.config = config;
  p.layers.resize(c.num_hidden_layers);
  SplitMix rng{seed};
  const int64_t r = config.rank;
  for (int il = 0; il < c.num_hidden_layers; ++il)
    for (int t = 0; t < kLoraTargets; ++t) {
      if (!config.targets[t]) continue;
      LoraModuleParams& m = p.layers[il][t];
      std::tie(m.out, m.in) = lora_target_shape(c, t);
      // nn.init.kaiming_uniform_(A, a=sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in)
      const double bound = 1.0 / std::sqrt(static_cast<double>(m.in));
      m.a.resize(r * m.in);
      for (float& v : m.a) v = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
      m.b.assign(m.out * r, 0.0f);
      m.ga.assign(m.a.size(), 0.0f);
      m.gb.assign(m.b.size(), 0.0f);
      m.ma.assign(m.a.size(), 0.0f);
      m.va.assign(m.a.size(), 0.0f);
      m.mb.assign(m.b.size(), 0.0f);
      m.vb.assign(m.b.size(), 0.0f);
    }
  return p;
}

void zero_grads(LoraParams& p) {
  for (auto& l : p.layers)
    for (LoraModuleParams& m : l) {
      std::fill(m.ga.begin(), m.ga.end(), 0.0f);
      std::fill(m.gb.begin(), m.gb.end(), 0.0f);
    }
}

std::string peft_tensor_name(int il, int target, bool a) {
  return "base_model.model.model.layers." + std::to_string(il) + "." + lora_target_path(target) +
         (a ? ".lora_A.weight" : ".lora_B.weight");
}

std::vector<StoredMatrix> stored_matrices(LoraParams& p, bool moments) {
  std::vector<StoredMatrix> out;
  const int64_t r = p.config.rank;
  for (size_t il = 0; il < p.layers.size(); ++il)
    for (int t = 0; t < kLoraTargets; ++t) {
      LoraModuleParams& m = p.layers[il][t];
      if (!m.active()) continue;
      for (bool a : {true, false}) {
        const std::string name = peft_tensor_name(static_cast<int>(il), t, a);
        const std::vector<int64_t> shape = a ? std::vector<int64_t>{r, m.in} : std::vector<int64_t>{m.out, r};
        if (!moments) {
          out.push_back({name, shape, a ? &m.a : &m.b});
        } else {
          out.push_back({name + ".exp_avg", shape, a ? &m.ma : &m.mb});
          out.push_back({name + ".exp_avg_sq", shape, a ? &m.va : &m.vb});
        }
      }
    }
  return out;
}

void write_stored_matrices(const std::string& path, const std::vector<StoredMatrix>& matrices,
                           const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::vector<StWriteTensor> tensors;
  for (const StoredMatrix& m : matrices) tensors.push_back({m.name, "F32", m.shape, m.values->size() * 4});
  write_safetensors(path, tensors, metadata, [&](size_t i, uint8_t* out) {
    std::memcpy(out, matrices[i].values->data(), matrices[i].values->size() * 4);
  });
}

void read_stored_matrices(const std::string& path, const std::vector<StoredMatrix>& matrices) {
  SafetensorsSet set;
  parse_safetensors(FileBuffer::open(path), set);
  for (const StoredMatrix& m : matrices) {
    auto it = set.tensors.find(m.name);
    QWEN3_CHECK(it != set.tensors.end(), "%s: tensor %s is missing", path.c_str(), m.name.c_str());
    QWEN3_CHECK(it->second.dtype == StDType::kF32 && it->second.shape == m.shape,
                "%s: tensor %s is not F32 of shape [%lld, %lld]", path.c_str(), m.name.c_str(),
                static_cast<long long>(m.shape[0]), static_cast<long long>(m.shape[1]));
    std::memcpy(m.values->data(), it->second.data, m.values->size() * 4);
  }
}

void write_peft_adapter(const LoraParams& p, const std::string& dir, const std::string& base_model) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  QWEN3_CHECK(!ec, "%s: cannot create the directory (%s)", dir.c_str(), ec.message().c_str());
  // adapter_config.json: the fields PEFT's LoraConfig saves (peft 0.13), target_modules as a sorted list
  nlohmann::ordered_json targets = nlohmann::ordered_json::array();
  std::vector<std::string> names;
  for (int t = 0; t < kLoraTargets; ++t)
    if (p.config.targets[t]) names.push_back(lora_target_name(t));
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) targets.push_back(n);
  nlohmann::ordered_json cfg = {{"alpha_pattern", nlohmann::ordered_json::object()},
                                {"auto_mapping", nullptr},
                                {"base_model_name_or_path", base_model},
                                {"bias", "none"},
                                {"fan_in_fan_out", false},
                                {"inference_mode", true},
                                {"init_lora_weights", true},
                                {"layer_replication", nullptr},
                                {"layers_pattern", nullptr},
                                {"layers_to_transform", nullptr},
                                {"loftq_config", nlohmann::ordered_json::object()},
                                {"lora_alpha", p.config.alpha},
                                {"lora_dropout", 0.0},
                                {"megatron_config", nullptr},
                                {"megatron_core", "megatron.core"},
                                {"modules_to_save", nullptr},
                                {"peft_type", "LORA"},
                                {"r", p.config.rank},
                                {"rank_pattern", nlohmann::ordered_json::object()},
                                {"revision", nullptr},
                                {"target_modules", targets},
                                {"task_type", "CAUSAL_LM"},
                                {"use_dora", false},
                                {"use_rslora", p.config.rslora}};
  {
    std::ofstream f(dir + "/adapter_config.json");
    f << cfg.dump(2) << "\n";
    QWEN3_CHECK(f.good(), "%s/adapter_config.json: cannot write", dir.c_str());
  }
  // adapter_model.safetensors: F32 matrices in PEFT's order (stored_matrices only reads p's values here)
  write_stored_matrices(dir + "/adapter_model.safetensors",
                        stored_matrices(const_cast<LoraParams&>(p), false), {{"format", "pt"}});
}

void read_peft_adapter(LoraParams& p, const std::string& dir) {
  read_stored_matrices(dir + "/adapter_model.safetensors", stored_matrices(p, false));
}

}  // namespace qwen3
