// Tokenizer throughput, one thread: encode one large document (warm word cache, and cold on a fresh thread),
// encode many short strings (the document's lines), decode the document's ids. Prints one JSON object; run.sh
// runs it next to the HF binding (bench_npm.mjs).
//   bench_tokenizer MODEL_DIR TEXT_FILE [REPS]
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/timer.h"
#include "tokenizer/tokenizer.h"

using qwen3::now_seconds;

// CPU time of this thread: on a shared machine it measures the work, where wall time also measures the
// neighbours.
static double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Runs fn, appending its wall and CPU seconds.
template <typename F>
static void timed(std::vector<double>& wall, std::vector<double>& cpu, F&& fn) {
  double w = now_seconds(), c = cpu_seconds();
  fn();
  cpu.push_back(cpu_seconds() - c);
  wall.push_back(now_seconds() - w);
}

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

  std::vector<int32_t> ids =
      tok.encode(text);  // warm-up (fills the word cache like any long-running process)
  // Cold: each rep on a fresh thread, whose word cache starts empty (the first sight of a text).
  std::vector<double> cold, cold_cpu;
  for (int r = 0; r < reps; ++r) {
    std::thread th([&] { timed(cold, cold_cpu, [&] { tok.encode(text); }); });
    th.join();
  }
  std::vector<double> doc, many, dec, doc_cpu, many_cpu, dec_cpu;
  size_t n_ids_many = 0;
  bool roundtrip = false;
  for (int r = 0; r < reps; ++r) {
    timed(doc, doc_cpu, [&] { ids = tok.encode(text); });
    timed(many, many_cpu, [&] {
      n_ids_many = 0;
      std::vector<int32_t> buf;
      for (const std::string& l : lines) {
        buf.clear();
        tok.encode_into(l, buf);
        n_ids_many += buf.size();
      }
    });
    std::string back;
    timed(dec, dec_cpu, [&] { back = tok.decode(ids); });
    roundtrip = back == text;
  }
  uint32_t fnv = 2166136261u;  // FNV-1a over the ids, to check both implementations produced the same ones
  for (int32_t id : ids) fnv = (fnv ^ uint32_t(id)) * 16777619u;
  double mb = double(text.size()) / 1e6;
  std::printf(
      "{\"impl\": \"qwen3.cpp\", \"bytes\": %zu, \"lines\": %zu, \"ids\": %zu, \"ids_many\": %zu, "
      "\"ids_fnv32\": %u, \"roundtrip\": %s, \"load_s\": %.3f, \"encode_doc_mbs\": %.2f, "
      "\"encode_many_mbs\": %.2f, \"decode_mbs\": %.2f, \"cpu_encode_doc_mbs\": %.2f, "
      "\"cpu_encode_many_mbs\": %.2f, \"cpu_decode_mbs\": %.2f, \"encode_doc_cold_mbs\": %.2f, "
      "\"cpu_encode_doc_cold_mbs\": %.2f}\n",
      text.size(), lines.size(), ids.size(), n_ids_many, fnv, roundtrip ? "true" : "false", load_s,
      mb / median(doc), mb / median(many), mb / median(dec), mb / median(doc_cpu), mb / median(many_cpu),
      mb / median(dec_cpu), mb / median(cold), mb / median(cold_cpu));
  return 0;
}
