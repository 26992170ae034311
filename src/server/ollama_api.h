// Ollama's API on the same port (its paths do not collide with OpenAI's): /api/chat and /api/generate
// (NDJSON streaming by default), /api/tags, /api/show, /api/ps, /api/version; errors as {"error": "..."}.
// `qwen3 serve --no-ollama-api` leaves these routes out (docs/SERVER.md).
#pragma once

#include <string>

#include "server/frontend.h"

namespace qwen3::server {

Prepared prepare_ollama_chat(const std::string& body, const ServedModel& served);
Prepared prepare_ollama_generate(const std::string& body, const ServedModel& served);
std::string ollama_tags(const ServedModel& served);
std::string ollama_show(const std::string& body, const ServedModel& served);
std::string ollama_ps(const ServedModel& served);
std::string ollama_version();

}  // namespace qwen3::server
