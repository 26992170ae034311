// The JSON-lines loop shared by `qwen3 eval|tokenize|template|grammar --jsonl`: each non-blank stdin line is
// one request, answered by one stdout line (flushed); a request that throws qwen3::Error is answered
// {"error": "..."} (and the message goes to stderr), and once stdin ends the command fails if any did.
#pragma once

#include <functional>
#include <string>

namespace qwen3::cli {

// `answer` turns a request line into its answer line (serialised JSON, no newline).
void run_jsonl(const std::function<std::string(const std::string& line)>& answer);

}  // namespace qwen3::cli
