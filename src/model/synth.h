// Synthetic Qwen3 models: the real architecture and file layout with deterministic random weights, for tests
// and benchmarks where the real weights cannot be had. Same preset, dtype and seed give the same bytes.
#pragma once

#include <cstdint>
#include <string>

#include "model/config.h"

namespace qwen3 {

struct SynthOptions {
  std::string preset = "tiny";  // tiny | small | qwen3-0.6b
  std::string out_dir;
  std::string dtype = "bf16";  // bf16 | f16 | f32
  uint64_t seed = 0;
  int shards = 1;             // > 1 writes model-0000i-of-0000N.safetensors + model.safetensors.index.json
  std::string tokenizer_dir;  // holds tokenizer.json and tokenizer_config.json to copy in; empty = none
  std::string rope_scaling;   // config.json's rope_scaling as a JSON object (e.g. YaRN); empty = null
};

// The config.json of a preset (every field of the real Qwen3-0.6B config.json, with the preset's sizes).
ModelConfig synth_preset_config(const std::string& preset);

// Writes the model directory; returns the number of parameters written.
int64_t write_synth_model(const SynthOptions& options);

}  // namespace qwen3
