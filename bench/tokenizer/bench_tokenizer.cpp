// Tokenizer throughput, one thread: encode one large document, encode many short strings (the document's lines),
// decode the document's ids. Prints one JSON object; run.sh runs it next to the HF binding (bench_npm.mjs).
//   bench_tokenizer MODEL_DIR TEXT_FILE [REPS]
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/timer.h"
#include "tokenizer/tokenizer.h"

using qwen3::now_seconds;

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR TEXT_FILE [REPS]\n", argv[0]);
    return 1;
  }
  int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  std::ifstream in(argv[2], std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string> lines;
  for (size_t i = 0; i < text.size();) {
    size_t j = text.find('\n', i);
    j = j == std::string::npos ? text.size() : j + 1;
    lines.push_back(text.substr(i, j - i));
    i = j;
  }
  double t0 = now_seconds();
  qwen3::Tokenizer tok = qwen3::Tokenizer::load(argv[1]);
  double load_s = now_seconds() - t0;

  std::vector<int32_t> ids = tok.encode(text);  // warm-up (fills the word cache like any long-running process)
  std::vector<double> doc, many, dec;
  size_t n_ids_many = 0;
  for (int r = 0; r < reps; ++r) {
    t0 = now_seconds();
    ids = tok.encode(text);
    doc.push_back(now_seconds() - t0);
    t0 = now_seconds();
    n_ids_many = 0;
    std::vector<int32_t> buf;
    for (const std::string& l : lines) {
      buf.clear();
      tok.encode_into(l, buf);
      n_ids_many += buf.size();
    }
    many.push_back(now_seconds() - t0);
    t0 = now_seconds();
    std::string back = tok.decode(ids);
    dec.push_back(now_seconds() - t0);
    if (back != text) std::fprintf(stderr, "warning: decode(encode(text)) != text\n");
  }
  double mb = double(text.size()) / 1e6;
  std::printf("{\"impl\": \"qwen3.cpp\", \"bytes\": %zu, \"lines\": %zu, \"ids\": %zu, \"ids_many\": %zu, "
              "\"load_s\": %.3f, \"encode_doc_mbs\": %.2f, \"encode_many_mbs\": %.2f, \"decode_mbs\": %.2f}\n",
              text.size(), lines.size(), ids.size(), n_ids_many, load_s, mb / median(doc), mb / median(many),
              mb / median(dec));
  return 0;
}
