// The pure parts of src/hub: which files make a model, llama.cpp's GGUF quant choice, repo ids, digests.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "hub/cache.h"
#include "hub/digest.h"
#include "hub/hub.h"
#include "hub/select.h"

namespace qwen3::hub {
namespace {

const std::vector<std::string> kQwen = {
    ".gitattributes",         "LICENSE",    "README.md",         "config.json",
    "generation_config.json", "merges.txt", "model.safetensors", "tokenizer.json",
    "tokenizer_config.json",  "vocab.json"};

TEST(HubSelect, SafetensorsRepoTakesWhatAModelNeeds) {
  ModelFiles mf = select_model_files(kQwen, "", {});
  EXPECT_TRUE(mf.error.empty());
  EXPECT_TRUE(mf.gguf.empty());
  EXPECT_EQ(mf.files, (std::vector<std::string>{"config.json", "generation_config.json", "merges.txt",
                                                "model.safetensors", "tokenizer.json",
                                                "tokenizer_config.json", "vocab.json"}));
  mf = select_model_files(kQwen, "", {"*.md", "LICENSE"});
  EXPECT_EQ(mf.files.size(), 9u);
  // Sharded weights with their index; other formats in subfolders are left alone.
  mf = select_model_files(
      {"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
       "model.safetensors.index.json", "onnx/model.onnx", "original/consolidated.safetensors"},
      "", {});
  EXPECT_EQ(mf.files,
            (std::vector<std::string>{"config.json", "model-00001-of-00002.safetensors",
                                      "model-00002-of-00002.safetensors", "model.safetensors.index.json"}));
  // An older GPTQ repo's quantisation settings come along.
  mf = select_model_files({"config.json", "model.safetensors", "quantize_config.json", "README.md"}, "", {});
  EXPECT_EQ(mf.files, (std::vector<std::string>{"config.json", "model.safetensors", "quantize_config.json"}));
  EXPECT_FALSE(select_model_files({"README.md"}, "", {}).error.empty());
  EXPECT_FALSE(select_model_files(kQwen, "Q8_0", {}).error.empty());  // no GGUF files
}

TEST(HubSelect, GgufQuantAsLlamaCpp) {
  const std::vector<std::string> files = {"Qwen3-0.6B-Q8_0.gguf",
                                          "Qwen3-0.6B-Q4_K_M.gguf",
                                          "Qwen3-0.6B-Q4_0.gguf",
                                          "Qwen3-0.6B-Q4_K_S.gguf",
                                          "Qwen3-0.6B-f16.gguf",
                                          "mmproj-Q8_0.gguf",
                                          "README.md"};
  EXPECT_EQ(pick_gguf(files, "Q8_0"), "Qwen3-0.6B-Q8_0.gguf");
  EXPECT_EQ(pick_gguf(files, "q8_0"), "Qwen3-0.6B-Q8_0.gguf");  // case-insensitive
  EXPECT_EQ(pick_gguf(files, "F16"), "Qwen3-0.6B-f16.gguf");
  EXPECT_EQ(pick_gguf(files, "Q4_K"), "Qwen3-0.6B-Q4_K_M.gguf");  // a whole word: not in Q4_0
  EXPECT_EQ(pick_gguf(files, "Q4"), "Qwen3-0.6B-Q4_0.gguf");      // first by name
  EXPECT_EQ(pick_gguf(files, "Q8"), "Qwen3-0.6B-Q8_0.gguf");      // '_' bounds a word; mmproj never
  EXPECT_EQ(pick_gguf(files, "Q8_"), "");
  EXPECT_EQ(pick_gguf(files, "Q5_K_M"), "");
  EXPECT_EQ(pick_gguf(files, ""), "Qwen3-0.6B-Q4_K_M.gguf");  // the default: Q4_K_M first
  EXPECT_EQ(pick_gguf({"a-Q8_0.gguf", "a-Q4_0.gguf"}, ""), "a-Q4_0.gguf");
  EXPECT_EQ(pick_gguf({"b-f16.gguf", "a-bf16.gguf"}, ""), "a-bf16.gguf");
  // Split files: only the first shard names the model.
  EXPECT_EQ(pick_gguf({"m-Q8_0-00002-of-00002.gguf", "m-Q8_0-00001-of-00002.gguf"}, "Q8_0"),
            "m-Q8_0-00001-of-00002.gguf");
  ModelFiles mf = select_model_files(files, "Q8_0", {});
  EXPECT_EQ(mf.gguf, "Qwen3-0.6B-Q8_0.gguf");
  EXPECT_EQ(mf.files, std::vector<std::string>{"Qwen3-0.6B-Q8_0.gguf"});
  EXPECT_NE(select_model_files(files, "IQ2_XS", {}).error.find("no GGUF file for IQ2_XS"), std::string::npos);
  EXPECT_EQ(select_model_files(files, "", {}).gguf, "Qwen3-0.6B-Q4_K_M.gguf");  // no config.json: GGUF
}

TEST(HubRepoRef, Parses) {
  RepoRef r;
  ASSERT_TRUE(parse_repo_ref("Qwen/Qwen3-0.6B", r));
  EXPECT_EQ(r.repo, "Qwen/Qwen3-0.6B");
  EXPECT_EQ(r.quant, "");
  ASSERT_TRUE(parse_repo_ref("unsloth/Qwen3-0.6B-GGUF:UD-Q4_K_XL", r));
  EXPECT_EQ(r.repo, "unsloth/Qwen3-0.6B-GGUF");
  EXPECT_EQ(r.quant, "UD-Q4_K_XL");
  for (const char* bad : {"Qwen3-0.6B", "/abs/path", "a/b/c", "a/", "/b", "a/b:", "a--b/c", "a/b..c", "-a/b",
                          "a/b.", "a b/c", "a/b:Q8 0", "./model", "../x"})
    EXPECT_FALSE(parse_repo_ref(bad, r)) << bad;
  EXPECT_EQ(repo_folder_name("Qwen/Qwen3-0.6B"), "models--Qwen--Qwen3-0.6B");
  EXPECT_TRUE(is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_hash("main"));
  EXPECT_FALSE(is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
}

TEST(HubDigest, MatchesKnownValues) {
  std::string path = ::testing::TempDir() + "/hub_digest.txt";
  {
    std::ofstream out(path, std::ios::binary);
    out << "hello\n";
  }
  // sha256sum and `git hash-object` of "hello\n".
  EXPECT_EQ(sha256_file(path), "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
  EXPECT_EQ(git_blob_sha1_file(path), "ce013625030ba8dba906f756967f9e9ca394464a");
  { std::ofstream out(path, std::ios::binary | std::ios::trunc); }
  EXPECT_EQ(sha256_file(path), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(git_blob_sha1_file(path), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  std::remove(path.c_str());
  EXPECT_THROW(sha256_file(path), Error);
}

TEST(HubCache, LinksAndRefsAsHuggingfaceHub) {
  namespace fs = std::filesystem;
  std::string repo_dir = ::testing::TempDir() + "/hub_cache_test/models--a--b";
  fs::remove_all(repo_dir);
  fs::create_directories(repo_dir + "/blobs");
  std::ofstream(repo_dir + "/blobs/e1") << "x";
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  link_snapshot_file(repo_dir, commit, "config.json", "e1");
  link_snapshot_file(repo_dir, commit, "sub/dir/f.json", "e1");
  EXPECT_EQ(fs::read_symlink(repo_dir + "/snapshots/" + commit + "/config.json"), "../../blobs/e1");
  EXPECT_EQ(fs::read_symlink(repo_dir + "/snapshots/" + commit + "/sub/dir/f.json"), "../../../../blobs/e1");
  write_ref(repo_dir, "main", commit);
  std::ifstream in(repo_dir + "/refs/main", std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, commit);  // no newline, as huggingface_hub writes it
  EXPECT_EQ(read_ref(repo_dir, "main"), commit);
  EXPECT_EQ(read_ref(repo_dir, commit), commit);
  EXPECT_FALSE(read_ref(repo_dir, "v1").has_value());
  fs::remove_all(::testing::TempDir() + "/hub_cache_test");
}

}  // namespace
}  // namespace qwen3::hub
