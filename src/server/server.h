// `qwen3 serve`: an OpenAI-compatible HTTP server over a Scheduler (see docs/SERVER.md). Only
// src/server/*.cpp include the HTTP library; this header does not.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "server/api.h"

namespace qwen3::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;      // 0: any free port (the chosen one is printed on stderr)
  std::string api_key;  // empty: no authentication
  int n_parallel = 4;
  int n_ctx = 4096;
  DType kv_type = DType::kF16;
  int max_queue = 64;
  int max_batch_tokens = 256;
  size_t max_body_bytes = 8 << 20;
  double header_timeout_s = 10;     // a request's whole head must arrive within this
  double keep_alive_timeout_s = 5;  // a kept-alive connection may idle this long between requests
  int max_connections = 512;        // open at once; beyond, 503 at once
  double drain_timeout_s = 30;      // on SIGTERM: how long running requests may finish
  bool log_requests = true;         // one stderr line per request (not /health, /health/ready, /metrics)
  bool log_json = false;            // that line as a JSON object
  bool ollama_api = true;           // Ollama's /api/* routes on the same port
  bool webui = true;                // the chat page at GET / (web/)
  std::vector<std::string> cors_origins;  // --cors-origin: "*" or origins; empty: no CORS headers
  int max_loras = 8;                      // LoRA adapters resident by name at most (server/adapters.h)
  bool lora_runtime = false;              // POST /v1/load_lora_adapter and /v1/unload_lora_adapter allowed
};

// What the server loads before it can answer.
struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ChatTemplate> chat_template;
  std::vector<LoraSpec> adapters;  // named LoRA adapters to offer (--lora NAME=DIR[:SCALE])
};

// Binds the address first, then calls load(); until it returns, every request gets 503 (as llama-server
// answers while loading; /health says "loading"), so clients and health checks can tell "starting" from
// "down". Then serves until SIGINT/SIGTERM, and drains: new requests get 503 shutting_down, /health/ready
// 503 (/health stays 200), running requests finish for up to drain_timeout_s, then end with finish_reason
// "abort"; a second signal skips the wait. Throws qwen3::Error when the address cannot be bound (a busy port
// is an error), and what load() throws.
void run_server(const std::function<LoadedModel()>& load, ThreadPool* pool, const ServerOptions& options);

}  // namespace qwen3::server
