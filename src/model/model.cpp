#include "model/model.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "formats/gguf_reader.h"
#include "model/weights.h"

namespace qwen3 {

size_t Model::weight_bytes() const {
  size_t total = weights.embed_tokens.bytes() + weights.norm.size() * 4;
  if (weights.lm_head.data != weights.embed_tokens.data) total += weights.lm_head.bytes();
  for (const auto& l : weights.layers) {
    for (const Tensor* t :
         {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      total += t->bytes();
    total +=
        (l.q_norm.size() + l.k_norm.size() + l.input_layernorm.size() + l.post_attention_layernorm.size()) *
        4;
  }
  return total;
}

namespace {

// The largest token id of tokenizer.json, found without building its JSON tree (~50 MB for Qwen's 151k vocab
// and merges, which the allocator keeps after it is freed): the integers at model.vocab.* and
// added_tokens[*].id, recognised by the path of keys that leads to them.
class MaxTokenId : public nlohmann::json_sax<nlohmann::json> {
 public:
  int64_t max_id = -1;
  std::string error;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t v) override { return value(v); }
  bool number_unsigned(number_unsigned_t v) override {
    return value(static_cast<int64_t>(std::min<number_unsigned_t>(v, INT32_MAX)));
  }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(false); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error = e.what();
    return false;
  }

 private:
  std::vector<std::string> path_;  // how each open container was reached: its key, or "[]" in an array
  std::vector<bool> is_array_;
  std::string key_;

  bool open(bool array) {
    path_.push_back(!is_array_.empty() && is_array_.back() ? "[]" : key_);
    is_array_.push_back(array);
    return true;
  }
  bool close() {
    path_.pop_back();
    is_array_.pop_back();
    return true;
  }
  bool value(int64_t v) {  // path_[0] is the root object's
    if (path_.size() == 3 && !is_array_.back() &&
        ((path_[1] == "model" && path_[2] == "vocab") ||
         (path_[1] == "added_tokens" && path_[2] == "[]" && key_ == "id")))
      max_id = std::max(max_id, v);
    return true;
  }
};

}  // namespace

int tokenizer_size_from_json(const std::string& dir) {
  std::string path = dir + "/tokenizer.json";
  if (!file_exists(path)) return 0;
  MaxTokenId sax;
  if (!nlohmann::json::sax_parse(read_text_file(path), &sax))
    throw_error("%s: malformed JSON: %s", path.c_str(), sax.error.c_str());
  return static_cast<int>(sax.max_id + 1);
}

std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options) {
  auto model = std::make_unique<Model>();
  model->dir = dir;
  // A conversion (--dtype) copies the matrices out of the file anyway: map the files then, so that they
  // stream through memory (bind_weights drops each slab's pages once converted) instead of being read whole
  // first and held beside the converted copy. Without one, reading into memory lets the tiles be made in
  // place.
  LoadOptions opened = options;
  if (options.dtype || options.embed_dtype) opened.map_mode = MapMode::kMmap;
  double t0 = now_seconds();
  if (gguf::is_gguf_path(dir)) {
    open_gguf_model(*model, dir, opened.map_mode, options.progress);
  } else {
    model->config = load_model_config(dir);
    model->generation = load_generation_config(dir, model->config);
    // Before the weights: parsing tokenizer.json builds a ~50 MB JSON tree for a moment, which would
    // otherwise come on top of the whole model in the peak RSS.
    int n_tok = tokenizer_size_from_json(dir);
    model->n_vocab_tokens = n_tok > 0 && n_tok < model->config.vocab_size ? n_tok : model->config.vocab_size;
    t0 = now_seconds();
    model->files = load_safetensors_dir(dir, opened.map_mode, options.progress);
  }
  double t1 = now_seconds();
  {
    ThreadPool pool(physical_core_count());
    bind_weights(*model, opened, &pool);
  }
  QWEN3_LOG_DEBUG("%s: read the weights in %.3f s, converted and tiled them in %.3f s", dir.c_str(), t1 - t0,
                  now_seconds() - t1);
  // The norms now live in f32 vectors and the matrices in tiles, packed in place in the file buffers or
  // copied out of them (conversions, mapped files): in the second case the file buffers can go.
  model->files.tensors.clear();
  if (!model->weights_in_files) model->files.files.clear();
  model->rope = rope_frequencies(model->config);
  return model;
}

}  // namespace qwen3
