// Access to the fixture data of tests/model/make_reference_data.sh: synthetic models and NumPy reference
// results.
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace qwen3::test {

inline std::string model_data_dir() {
  return testdata_dir() + "/model";
}
inline std::string synth_model(const std::string& name) {
  return model_data_dir() + "/models/" + name;
}

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

struct ReferencePrompt {
  std::vector<int32_t> ids;
  int n_predict = 0;
  std::vector<int32_t> greedy;  // reference greedy tokens
  std::vector<double> gaps;     // reference top-1 minus top-2 logit at each greedy step
  std::vector<double> logits;   // reference logits after the prompt
};

inline std::vector<ReferencePrompt> reference_prompts(const std::string& model) {
  auto prompts = read_jsonl(model_data_dir() + "/prompts.jsonl");
  auto refs = read_jsonl(model_data_dir() + "/ref/" + model + ".jsonl");
  std::vector<ReferencePrompt> out;
  for (size_t i = 0; i < prompts.size() && i < refs.size(); ++i) {
    ReferencePrompt p;
    p.ids = prompts[i]["ids"].get<std::vector<int32_t>>();
    p.n_predict = prompts[i]["n_predict"].get<int>();
    p.greedy = refs[i]["greedy"].get<std::vector<int32_t>>();
    p.gaps = refs[i]["gaps"].get<std::vector<double>>();
    p.logits = refs[i]["logits"].get<std::vector<double>>();
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace qwen3::test
