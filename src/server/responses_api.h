// OpenAI's Responses API (POST /v1/responses, GET and DELETE /v1/responses/{id}) over the same scheduler,
// chat template and output parser as /v1/chat/completions: the input items become chat messages, the output
// becomes reasoning, message and function_call items, streamed as Responses events (docs/SERVER.md).
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "server/frontend.h"

namespace qwen3::server {

// Responses kept for previous_response_id, item_reference and GET /v1/responses/{id}: in memory only (lost on
// restart), at most kMaxResponses of them and kMaxBytes of JSON together; the oldest go first. A response
// asked with store: false is never kept.
class ResponseStore {
 public:
  static constexpr size_t kMaxResponses = 1000;
  static constexpr size_t kMaxBytes = 64u << 20;

  struct Stored {
    ojson response;      // the response object as returned
    ojson conversation;  // chat messages up to and including this response's output (instructions excluded)
    size_t bytes = 0;
  };
  void put(const std::string& id, Stored s);
  std::optional<Stored> get(const std::string& id) const;
  std::optional<ojson> item(const std::string& item_id) const;  // an output item of a stored response
  bool erase(const std::string& id);

 private:
  void erase_locked(const std::string& id);
  mutable std::mutex mu_;
  std::unordered_map<std::string, Stored> responses_;
  std::unordered_map<std::string, ojson> items_;  // output item id → item
  std::deque<std::string> order_;                 // oldest first
  size_t bytes_ = 0;
};

Prepared prepare_response(const std::string& body, const ServedModel& served, ResponseStore& store);
// GET /v1/responses/{id} and DELETE /v1/responses/{id} (path given whole); ApiError 404 when not stored.
std::string stored_response(const std::string& path, ResponseStore& store);
std::string delete_response(const std::string& path, ResponseStore& store);

}  // namespace qwen3::server
