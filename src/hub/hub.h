// The Hugging Face Hub client: `qwen3 pull REPO[:QUANT]` and the resolution of `-m ORG/NAME`
// (docs/DESIGN.md).
//
// Files land in the Hugging Face cache exactly as huggingface_hub lays it out, so transformers, vLLM and
// `huggingface-cli` share them:
//   $HF_HUB_CACHE/models--ORG--NAME/blobs/<etag>              the bytes (sha256 for LFS files, git sha1 else)
//                                   snapshots/<commit>/<path>  -> ../../blobs/<etag> (relative symlinks)
//                                   refs/<revision>            the commit, no newline
//   $HF_HUB_CACHE/.locks/models--ORG--NAME/<etag>.lock         flock'd while a blob is written
// and the protocol is the one huggingface_hub speaks: GET {endpoint}/api/models/{repo}/revision/{rev} for the
// commit and file list, HEAD {endpoint}/{repo}/resolve/{commit}/{path} for X-Repo-Commit, ETag or
// X-Linked-Etag, X-Linked-Size (a 302 to a CDN for LFS files; relative redirects followed), then GET with
// Range into blobs/<etag>.incomplete, verified before it is renamed into place.
//
// Layer: beside formats and kernels (it needs only core); called by the CLI's model resolution and `qwen3
// pull`. Built as its own library (qwen3hub): the only code that links libcurl and OpenSSL.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace qwen3::hub {

// The environment, as huggingface_hub reads it.
struct HubEnv {
  std::string endpoint;   // HF_ENDPOINT, default https://huggingface.co (no trailing '/')
  std::string cache_dir;  // HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
  std::string token;      // HF_TOKEN, else the file $HF_TOKEN_PATH, else $HF_HOME/token
  bool offline = false;   // HF_HUB_OFFLINE=1 (or true/yes/on)
};
HubEnv hub_env();

// "ORG/NAME" or "ORG/NAME:QUANT" (llama.cpp's -hf syntax; QUANT picks a GGUF file).
struct RepoRef {
  std::string repo;
  std::string quant;  // empty: none given
};
// False when `s` is not of that form (so that a caller can say it is neither a path nor a repo id).
bool parse_repo_ref(const std::string& s, RepoRef& out);

struct PullOptions {
  std::string revision = "main";
  std::vector<std::string>
      include;       // extra globs (fnmatch, on the path in the repo) beyond what a model needs
  int parallel = 4;  // files downloaded at once
  int retries = 5;   // per file, after a cut or failed connection ($QWEN3_HUB_RETRIES)
};

// Downloads what the model needs (or is missing) into the cache and returns the local model: the snapshot
// directory, or the GGUF file inside it for a GGUF repo. Progress: a bar on a terminal, else a line per file,
// on stderr. Ctrl-C stops it with every partial file resumable by the same command. Throws qwen3::Error with
// one clear line (gated repo, no such repo or revision, no network, digest mismatch, ...).
std::string pull(const RepoRef& ref, const PullOptions& options, const HubEnv& env);

// The local model for `ref` at `revision` when the cache holds it complete (no network), else nullopt.
std::optional<std::string> find_cached_model(const RepoRef& ref, const std::string& revision,
                                             const HubEnv& env);

// For -m ORG/NAME[:QUANT]: the cached model, else (unless HF_HUB_OFFLINE) pull() it.
std::string resolve_model(const RepoRef& ref, const HubEnv& env);

}  // namespace qwen3::hub
