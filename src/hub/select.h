// Which files of a repo make a model (hub.h): for safetensors repos the config, generation config, tokenizer
// files and weights (with their index); for GGUF repos the one file of the quant asked for, by llama.cpp's
// `-hf REPO:QUANT` rule. Pure functions on lists of paths: hub_tests covers them without a server.
#pragma once

#include <string>
#include <vector>

namespace qwen3::hub {

struct ModelFiles {
  std::vector<std::string> files;  // paths in the repo to fetch, sorted
  std::string gguf;                // the GGUF file chosen (also in files), empty for a safetensors model
  std::string error;               // set when no model can be made of the repo's files (the reason)
};

// repo_files: every path of the repo (the API's siblings, or a local snapshot). quant: llama.cpp's tag
// (case-insensitive), empty for none. A GGUF model is chosen when a quant is given, or when the repo has
// .gguf files but no config.json. include: fnmatch globs of more files to fetch.
ModelFiles select_model_files(const std::vector<std::string>& repo_files, const std::string& quant,
                              const std::vector<std::string>& include);

// llama.cpp's choice of a GGUF file: with a tag, the first (by name) whose name holds the tag as a whole
// word (bounded by non-alphanumerics, case-insensitive: Q8_0 matches "Qwen3-0.6B-Q8_0.gguf", Q4 matches
// "x-Q4_K_M.gguf"); without one, Q4_K_M, else Q4, else the first. mmproj files and split shards after the
// first are never chosen. Empty when none matches.
std::string pick_gguf(const std::vector<std::string>& repo_files, const std::string& quant);

// Whether a snapshot's files hold a whole safetensors model: config.json, and every weight file (those the
// index names when there is one, else at least one *.safetensors). snapshot_dir is read for the index.
bool safetensors_complete(const std::string& snapshot_dir, const std::vector<std::string>& files);

}  // namespace qwen3::hub
