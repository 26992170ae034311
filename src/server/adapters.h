// The LoRA adapters a server offers by name (`qwen3 serve --lora NAME=DIR`, vLLM's convention): a request's
// "model" field picks one (the base model's id or no field: the base), /v1/models lists them after the base
// model, and POST /v1/load_lora_adapter / /v1/unload_lora_adapter (vLLM's names, with --lora-runtime) add
// and remove them while the server runs, up to --max-loras resident. A named adapter runs stacked on the
// server's unnamed --lora adapters (Model::lora), if any. Sequences hold their stack: unloading an adapter
// never disturbs a request already running with it. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/model.h"
#include "server/api.h"

namespace qwen3::server {

class AdapterRegistry {
 public:
  AdapterRegistry(const Model& model, int max_resident, bool runtime_updates)
      : model_(model), max_resident_(max_resident), runtime_(runtime_updates) {}

  // Loads and registers an adapter (qwen3::Error / ApiError on a bad one, a taken name, or the limit).
  void add(const std::string& name, const std::string& path, float scale = 1.0f);
  // The adapters a request's "model" names: null for the base model (an empty field, the base id, or any
  // name while no adapter is registered: the server then serves one model whatever it is called, as
  // before adapters existed); a 404 model_not_found ApiError for an unknown name otherwise.
  std::shared_ptr<const LoraStack> resolve(const std::string& model_field, const std::string& base_id) const;
  // /v1/models entries after the base model's (vLLM's fields: root = the adapter path, parent = base id).
  std::vector<ojson> model_objects(const std::string& base_id, int64_t created) const;
  bool has(const std::string& name) const;

  // The bodies of POST /v1/load_lora_adapter {"lora_name", "lora_path"} and /v1/unload_lora_adapter
  // {"lora_name"}: the plain-text success line vLLM answers, or an ApiError (403 without --lora-runtime).
  std::string load_request(const std::string& body);
  std::string unload_request(const std::string& body);

 private:
  struct Entry {
    std::string name, path;
    std::shared_ptr<const LoraStack> stack;
  };
  const Model& model_;
  int max_resident_;
  bool runtime_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // in the order they were added
};

}  // namespace qwen3::server
