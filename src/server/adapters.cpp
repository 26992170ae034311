#include "server/adapters.h"

#include "core/error.h"
#include "core/json.h"

namespace qwen3::server {

void AdapterRegistry::add(const std::string& name, const std::string& path, float scale) {
  if (name.empty() || name.size() > 256)
    throw ApiError{400, "lora_name must be a non-empty name of at most 256 characters",
                   "invalid_request_error", "lora_name", ""};
  // Checked before reading the adapter and again once it is read (outside the lock), before it is kept.
  auto check_room = [&] {
    for (const Entry& e : entries_)
      if (e.name == name)
        throw ApiError{400, strfmt("The lora adapter '%s' has already been loaded.", name.c_str()),
                       "invalid_request_error", "lora_name", ""};
    if (static_cast<int>(entries_.size()) >= max_resident_)
      throw ApiError{
          400,
          strfmt("%d LoRA adapters are loaded, the most this server keeps (--max-loras): unload one "
                 "first",
                 max_resident_),
          "invalid_request_error", "lora_name", ""};
  };
  {
    std::lock_guard lock(mu_);
    check_room();
  }
  // Read outside the lock (seconds for a large adapter).
  auto stack = std::make_shared<LoraStack>();
  if (model_.lora)
    for (const auto& [ad, mult] : model_.lora->parts) stack->add(ad, mult);
  stack->add(load_lora_adapter(path, model_.config, model_.lora_bf16()), scale);
  std::lock_guard lock(mu_);
  check_room();
  entries_.push_back({name, path, std::move(stack)});
}

std::shared_ptr<const LoraStack> AdapterRegistry::resolve(const std::string& model_field,
                                                          const std::string& base_id) const {
  if (model_field.empty() || model_field == base_id) return nullptr;
  std::lock_guard lock(mu_);
  for (const Entry& e : entries_)
    if (e.name == model_field) return e.stack;
  if (entries_.empty()) return nullptr;
  std::string names = base_id;
  for (const Entry& e : entries_) names += ", " + e.name;
  throw ApiError{
      404, strfmt("The model '%s' does not exist (this server has: %s)", model_field.c_str(), names.c_str()),
      "invalid_request_error", "model", "model_not_found"};
}

bool AdapterRegistry::has(const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const Entry& e : entries_)
    if (e.name == name) return true;
  return false;
}

std::vector<ojson> AdapterRegistry::model_objects(const std::string& base_id, int64_t created) const {
  std::lock_guard lock(mu_);
  std::vector<ojson> out;
  for (const Entry& e : entries_)
    out.push_back({{"id", e.name},
                   {"object", "model"},
                   {"created", created},
                   {"owned_by", "qwen3.cpp"},
                   {"root", e.path},
                   {"parent", base_id}});
  return out;
}

namespace {

std::string string_field(const ojson& b, const char* key) {
  const ojson* v = field(b, key);
  if (!v || !v->is_string() || v->get<std::string>().empty())
    throw ApiError{400, strfmt("'%s' must be a non-empty string", key), "invalid_request_error", key, ""};
  return v->get<std::string>();
}

ojson parse_object(const std::string& body) {
  ojson b;
  std::string err;
  if (!try_parse_json(body, b, &err) || !b.is_object())
    throw ApiError{400, "the body must be a JSON object" + (err.empty() ? "" : ": " + err),
                   "invalid_request_error", "", ""};
  return b;
}

}  // namespace

std::string AdapterRegistry::load_request(const std::string& body) {
  if (!runtime_)
    throw ApiError{403, "Loading LoRA adapters at run time is off: start qwen3 serve with --lora-runtime",
                   "invalid_request_error", "", "lora_runtime_disabled"};
  const ojson b = parse_object(body);
  const std::string name = string_field(b, "lora_name"), path = string_field(b, "lora_path");
  try {
    add(name, path);
  } catch (const ApiError&) {
    throw;
  } catch (const Error& e) {
    throw ApiError{400, e.what(), "invalid_request_error", "lora_path", ""};
  }
  return strfmt("Success: LoRA adapter '%s' added successfully.", name.c_str());
}

std::string AdapterRegistry::unload_request(const std::string& body) {
  if (!runtime_)
    throw ApiError{403, "Unloading LoRA adapters at run time is off: start qwen3 serve with --lora-runtime",
                   "invalid_request_error", "", "lora_runtime_disabled"};
  const ojson b = parse_object(body);
  const std::string name = string_field(b, "lora_name");
  std::lock_guard lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (it->name == name) {
      entries_.erase(it);  // running sequences keep their own reference to the stack
      return strfmt("Success: LoRA adapter '%s' removed successfully.", name.c_str());
    }
  throw ApiError{404, strfmt("The lora adapter '%s' cannot be found.", name.c_str()), "invalid_request_error",
                 "lora_name", "model_not_found"};
}

}  // namespace qwen3::server
