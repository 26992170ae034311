// The tiny synthetic model (f32) with its tokenizer and a 2-thread pool, loaded once per test binary.
#pragma once

#include <memory>

#include "core/thread_pool.h"
#include "model/model.h"
#include "model/reference_data.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::test {

struct TinyModel {
  std::unique_ptr<Model> model = load_model(synth_model("tiny-f32"));
  Tokenizer tok = Tokenizer::load(synth_model("tiny-f32"));
  ThreadPool pool{2};
};

inline TinyModel& tiny_model() {
  static TinyModel m;
  return m;
}

}  // namespace qwen3::test
