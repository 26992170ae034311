// Reading GGUF files: a model written by `qwen3 quantize -o X.gguf` loads to the same logits, bit for bit, as
// the directory it came from (float types) or the quantised directory with the same blocks; its tokenizer
// encodes and decodes the tokenizer test corpus as tokenizer.json does and its chat template renders the
// same; a truncated or corrupt file is one clear error line, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "core/error.h"
#include "model/model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;
using test::run_command;

void qwen3_ok(const std::string& args) {
  auto r = run_command(test::qwen3_binary() + " " + args);
  ASSERT_EQ(r.exit_code, 0) << args << "\n" << r.err;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `qwen3 eval` output (greedy ids and last-position logits, printed in full) for a fixed prompt.
std::string eval(const std::string& model, const std::string& extra = "") {
  const std::string input =
      "{\"ids\": [785, 3974, 13876, 38835, 151644, 872, 198, 9707], \"n_predict\": 4, \"logits\": true}\n";
  auto r = run_command(test::qwen3_binary() + " eval -m " + model + " --jsonl -t 2 " + extra, input);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"logits\""), std::string::npos);
  return r.out;
}

TEST(GgufReader, SameLogitsAsTheSource) {
  const std::string s = test::own_scratch_dir("gguf_roundtrip");
  for (const std::string src : {"f32", "bf16"}) {
    const std::string dir = s + "/small-" + src;
    qwen3_ok("synth --preset small --dtype " + src + " --seed 5 --out " + dir);
    // The same type: the same bytes, so the same logits.
    qwen3_ok("quantize -m " + dir + " -o " + dir + ".gguf --type " + src);
    EXPECT_EQ(eval(dir), eval(dir + ".gguf")) << src;
    // Converted at load, from either.
    EXPECT_EQ(eval(dir, "--dtype q8_0"), eval(dir + ".gguf", "--dtype q8_0")) << src;
    // Quantised files: the same blocks as the quantised directory.
    for (const std::string q : {"q8_0", "q4_0"}) {
      qwen3_ok("quantize -m " + dir + " -o " + dir + "-" + q + ".gguf --type " + q);
      qwen3_ok("quantize -m " + dir + " -o " + dir + "-" + q + " --type " + q);
      EXPECT_EQ(eval(dir + "-" + q), eval(dir + "-" + q + ".gguf")) << src << " " << q;
    }
  }
  // Loading it in-process: the config, and a model marked synthetic as its source was.
  auto m = load_model(s + "/small-bf16.gguf");
  auto d = load_model(s + "/small-bf16");
  EXPECT_EQ(m->config.hidden_size, d->config.hidden_size);
  EXPECT_EQ(m->config.head_dim, d->config.head_dim);
  EXPECT_EQ(m->config.tie_word_embeddings, d->config.tie_word_embeddings);
  EXPECT_EQ(m->config.vocab_size, d->config.vocab_size);
  EXPECT_EQ(m->n_vocab_tokens, d->n_vocab_tokens);
  EXPECT_EQ(m->generation.eos_token_ids, (std::vector<int>{151645, 151643}));
  EXPECT_TRUE(m->synthetic());
}

TEST(GgufReader, TokenizerAndTemplateAsTheSource) {
  const std::string s = test::own_scratch_dir("gguf_tokenizer");
  qwen3_ok("synth --preset tiny --out " + s + "/m");
  qwen3_ok("quantize -m " + s + "/m -o " + s + "/m.gguf --type q8_0");
  const Tokenizer a = Tokenizer::load(s + "/m"), b = Tokenizer::load(s + "/m.gguf");
  EXPECT_EQ(a.vocab_size(), b.vocab_size());
  std::ifstream corpus(test::source_dir() + "/tests/data/tokenizer/encode.jsonl");
  int n = 0;
  for (std::string line; std::getline(corpus, line); ++n) {
    const auto j = nlohmann::json::parse(line);
    const std::string text = j["text"];
    const std::vector<int32_t> ids = a.encode(text);
    ASSERT_EQ(ids, b.encode(text)) << text;
    ASSERT_EQ(a.decode(ids), b.decode(ids)) << text;
  }
  EXPECT_GT(n, 1000);
  for (int32_t id : {151643, 151644, 151645, 151657, 151667, 151668}) {
    EXPECT_EQ(a.id_to_token(id), b.id_to_token(id));
    EXPECT_EQ(a.is_special(id), b.is_special(id)) << id;
  }
  const ChatTemplate ta = ChatTemplate::load(s + "/m"), tb = ChatTemplate::load(s + "/m.gguf");
  const auto messages = nlohmann::ordered_json::parse(
      R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <think>"},
          {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello."}, {"role": "user", "content": "?"}])");
  ChatTemplateOptions opt;
  opt.add_generation_prompt = true;
  EXPECT_EQ(ta.render(messages, nlohmann::ordered_json(), opt).text,
            tb.render(messages, nlohmann::ordered_json(), opt).text);
}

// The error `qwen3 eval` gives for a file; expects exit 1 and one line.
std::string eval_error(const std::string& path) {
  auto r = run_command(test::qwen3_binary() + " eval -m " + path + " --jsonl", "");
  EXPECT_EQ(r.exit_code, 1) << path;
  EXPECT_TRUE(r.err.starts_with("error: ")) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  return r.err;
}

TEST(GgufReader, TruncatedFilesFailWithOneLine) {
  const std::string s = test::own_scratch_dir("gguf_truncated");
  qwen3_ok("synth --preset tiny --out " + s + "/m");
  qwen3_ok("quantize -m " + s + "/m -o " + s + "/m.gguf --type q8_0");
  const std::string whole = slurp(s + "/m.gguf");
  // Through the command: cut in the tensor data, in the metadata, in the header.
  for (size_t keep : {whole.size() / 2, size_t{3000}, size_t{10}}) {
    test::write_file(s + "/cut.gguf", whole.substr(0, keep));
    const std::string err = eval_error(s + "/cut.gguf");
    EXPECT_NE(err.find("cut.gguf: truncated"), std::string::npos) << err;
  }
  // In-process, at many more cut points: always a qwen3::Error, never a crash.
  for (size_t keep = 0; keep < whole.size(); keep += whole.size() / 97 + 1) {
    test::write_file(s + "/cut.gguf", whole.substr(0, keep));
    EXPECT_THROW(load_model(s + "/cut.gguf"), Error) << keep;
  }
}

TEST(GgufReader, CorruptFilesFailWithOneLine) {
  const std::string s = test::own_scratch_dir("gguf_corrupt");
  qwen3_ok("synth --preset tiny --out " + s + "/m");
  qwen3_ok("quantize -m " + s + "/m -o " + s + "/m.gguf --type q8_0");
  const std::string whole = slurp(s + "/m.gguf");
  auto patched = [&](const std::string& find, const std::string& replace, size_t skip = 0) {
    std::string b = whole;
    size_t at = b.find(find);
    EXPECT_NE(at, std::string::npos) << find;
    std::memcpy(b.data() + at + skip, replace.data(), replace.size());
    test::write_file(s + "/bad.gguf", b);
    return eval_error(s + "/bad.gguf");
  };
  EXPECT_NE(patched("GGUF", "GGML").find("not a GGUF file"), std::string::npos);
  EXPECT_NE(patched(std::string("GGUF\x03", 5), std::string("\x07", 1), 4).find("version 7"),
            std::string::npos);
  // general.architecture "qwen3" -> "llama" (same length).
  EXPECT_NE(patched("qwen3", "llama").find("\"llama\""), std::string::npos);
  // token_embd.weight's type q8_0 (8) -> iq2_xxs (16), which has no kernels: named, with what is supported.
  const std::string info = std::string("token_embd.weight\x02\0\0\0", 21);
  const std::string err = patched(info, std::string("\x10", 1), info.size() + 16);
  EXPECT_NE(err.find("token_embd.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("iq2_xxs"), std::string::npos) << err;
  EXPECT_NE(err.find("q4_K"), std::string::npos) << err;  // in the list of what is read
  // -> q4_K (12): its 64 columns are not whole 256-value blocks.
  const std::string err_k = patched(info, std::string("\x0c", 1), info.size() + 16);
  EXPECT_NE(err_k.find("token_embd.weight"), std::string::npos) << err_k;
  EXPECT_NE(err_k.find("not whole blocks of 256"), std::string::npos) << err_k;
}

// Random bytes changed in the header, metadata and tensor infos: the model, tokenizer and template loaders
// either load or throw qwen3::Error, never crash or read outside the file (run under ASan too).
TEST(GgufReader, FlippedBytesNeverCrash) {
  const std::string s = test::own_scratch_dir("gguf_flipped");
  qwen3_ok("synth --preset tiny --out " + s + "/m");
  qwen3_ok("quantize -m " + s + "/m -o " + s + "/m.gguf --type q4_0");
  const std::string whole = slurp(s + "/m.gguf");
  // The metadata before the tokenizer arrays, and everything after them up to the tensor data.
  const size_t tokens_at = whole.find("tokenizer.ggml.tokens"), infos_at = whole.find("token_embd.weight");
  ASSERT_NE(tokens_at, std::string::npos);
  ASSERT_NE(infos_at, std::string::npos);
  uint64_t state = 42;
  auto next = [&] { return state = state * 6364136223846793005ull + 1442695040888963407ull; };
  int loaded = 0, failed = 0;
  for (int i = 0; i < 120; ++i) {
    std::string b = whole;
    const size_t span = i % 2 ? tokens_at + 64 : 1200;
    const size_t base = i % 2 ? 0 : infos_at - 600;
    for (int k = 0; k < 1 + i % 3; ++k) b[base + next() % span] = static_cast<char>(next() >> 56);
    test::write_file(s + "/f.gguf", b);
    try {
      load_model(s + "/f.gguf");
      Tokenizer::load(s + "/f.gguf").encode("Hello <|im_start|> world");
      ChatTemplate::load(s + "/f.gguf");
      ++loaded;
    } catch (const Error&) {
      ++failed;
    }
  }
  EXPECT_GT(failed, 10);
  std::printf("flipped bytes: %d loaded, %d rejected\n", loaded, failed);
}

}  // namespace
}  // namespace qwen3
