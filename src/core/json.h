// JSON text from outside (request bodies, model output, JSONL input) parsed with bounds: nesting deeper than
// max_depth is refused while parsing, before any value is built (nlohmann's own parse builds and copies the
// nested values recursively, which a few hundred kilobytes of '[' turn into a stack overflow), and objects
// are built in linear time (ordered_json's insert searches the object's keys, quadratic in their number:
// 100,000 keys took 25 s). A duplicate key keeps its first position and takes the last value, as nlohmann's
// parse does.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace qwen3 {

struct JsonLimits {
  int max_depth = 128;  // nested arrays and objects; the outermost value is depth 1
};

// Throws qwen3::Error ("invalid JSON at byte N: ...", or "JSON nested deeper than N levels at byte M").
nlohmann::ordered_json parse_json(std::string_view text, const JsonLimits& limits = {});

// As parse_json, but returns false (and leaves `out` null) instead of throwing; `error` gets the message.
bool try_parse_json(std::string_view text, nlohmann::ordered_json& out, std::string* error = nullptr,
                    const JsonLimits& limits = {});

}  // namespace qwen3
