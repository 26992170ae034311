#include "hub/cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "hub/select.h"

namespace qwen3::hub {

namespace fs = std::filesystem;

static std::string getenv_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

static std::string trim(std::string s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  size_t b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

HubEnv hub_env() {
  HubEnv env;
  env.endpoint = getenv_str("HF_ENDPOINT");
  if (env.endpoint.empty()) env.endpoint = "https://huggingface.co";
  while (env.endpoint.size() > 1 && env.endpoint.back() == '/') env.endpoint.pop_back();
  std::string home = getenv_str("HOME");
  std::string hf_home = getenv_str("HF_HOME");
  if (hf_home.empty()) {
    std::string xdg = getenv_str("XDG_CACHE_HOME");
    hf_home = (xdg.empty() ? home + "/.cache" : xdg) + "/huggingface";
  }
  env.cache_dir = getenv_str("HF_HUB_CACHE");
  if (env.cache_dir.empty()) env.cache_dir = getenv_str("HUGGINGFACE_HUB_CACHE");
  if (env.cache_dir.empty()) env.cache_dir = hf_home + "/hub";
  env.token = trim(getenv_str("HF_TOKEN"));
  if (env.token.empty()) {
    std::string path = getenv_str("HF_TOKEN_PATH");
    if (path.empty()) path = hf_home + "/token";
    std::ifstream in(path);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      env.token = trim(ss.str());
    }
  }
  std::string off = getenv_str("HF_HUB_OFFLINE");
  std::transform(off.begin(), off.end(), off.begin(), [](unsigned char c) { return std::tolower(c); });
  env.offline = off == "1" || off == "true" || off == "yes" || off == "on";
  return env;
}

static bool repo_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

bool parse_repo_ref(const std::string& s, RepoRef& out) {
  std::string repo = s, quant;
  size_t colon = s.find(':');
  if (colon != std::string::npos) {
    repo = s.substr(0, colon);
    quant = s.substr(colon + 1);
    if (quant.empty()) return false;
    for (char c : quant)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  size_t slash = repo.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == repo.size()) return false;
  if (repo.find('/', slash + 1) != std::string::npos) return false;
  for (size_t i = 0; i < repo.size(); ++i)
    if (i != slash && !repo_name_char(repo[i])) return false;
  // huggingface_hub's validate_repo_id: no "--" nor "..", no part starting or ending with '-' or '.'.
  if (repo.find("--") != std::string::npos || repo.find("..") != std::string::npos) return false;
  for (const std::string& part : {repo.substr(0, slash), repo.substr(slash + 1)}) {
    if (part.size() > 96) return false;
    for (char c : {part.front(), part.back()})
      if (c == '-' || c == '.') return false;
  }
  out.repo = repo;
  out.quant = quant;
  return true;
}

std::string repo_folder_name(const std::string& repo) {
  std::string name = "models--" + repo;
  size_t slash = name.find('/');
  return name.replace(slash, 1, "--");
}

std::string repo_cache_dir(const HubEnv& env, const std::string& repo) {
  return env.cache_dir + "/" + repo_folder_name(repo);
}

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::optional<std::string> read_ref(const std::string& repo_dir, const std::string& revision) {
  if (is_commit_hash(revision)) return revision;
  std::ifstream in(repo_dir + "/refs/" + revision);
  if (!in) return std::nullopt;
  std::string commit;
  in >> commit;
  if (!is_commit_hash(commit)) return std::nullopt;
  return commit;
}

void write_ref(const std::string& repo_dir, const std::string& revision, const std::string& commit) {
  if (revision == commit) return;
  fs::path path = fs::path(repo_dir) / "refs" / revision;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  QWEN3_CHECK(!ec, "%s: %s", path.parent_path().c_str(), ec.message().c_str());
  fs::path tmp = path;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << commit;
    QWEN3_CHECK(out.good(), "%s: cannot write", tmp.c_str());
  }
  fs::rename(tmp, path, ec);
  QWEN3_CHECK(!ec, "%s: %s", path.c_str(), ec.message().c_str());
}

void link_snapshot_file(const std::string& repo_dir, const std::string& commit, const std::string& path,
                        const std::string& etag) {
  fs::path pointer = fs::path(repo_dir) / "snapshots" / commit / path;
  fs::path blob = fs::path(repo_dir) / "blobs" / etag;
  std::error_code ec;
  fs::create_directories(pointer.parent_path(), ec);
  QWEN3_CHECK(!ec, "%s: %s", pointer.parent_path().c_str(), ec.message().c_str());
  // os.path.relpath(blob, dirname(pointer)), as huggingface_hub's _create_symlink computes it.
  fs::path target = blob.lexically_relative(pointer.parent_path());
  fs::remove(pointer, ec);
  fs::create_symlink(target, pointer, ec);
  if (ec) {
    fs::copy_file(blob, pointer, fs::copy_options::overwrite_existing, ec);
    QWEN3_CHECK(!ec, "%s: cannot link or copy %s: %s", pointer.c_str(), blob.c_str(), ec.message().c_str());
  }
}

BlobLock::BlobLock(const HubEnv& env, const std::string& repo, const std::string& etag) {
  fs::path dir = fs::path(env.cache_dir) / ".locks" / repo_folder_name(repo);
  std::error_code ec;
  fs::create_directories(dir, ec);
  QWEN3_CHECK(!ec, "%s: %s", dir.c_str(), ec.message().c_str());
  std::string path = (dir / (etag + ".lock")).string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  QWEN3_CHECK(fd_ >= 0, "%s: cannot open the lock file", path.c_str());
  while (::flock(fd_, LOCK_EX) != 0) {
    QWEN3_CHECK(errno == EINTR, "%s: cannot lock", path.c_str());
  }
}

BlobLock::~BlobLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

std::vector<std::string> list_snapshot(const std::string& snapshot_dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(snapshot_dir, ec), end; !ec && it != end; it.increment(ec)) {
    // A pointer counts when its blob is there (stat follows the link).
    if (fs::is_regular_file(it->path()))
      files.push_back(it->path().lexically_relative(snapshot_dir).string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::optional<std::string> find_cached_model(const RepoRef& ref, const std::string& revision,
                                             const HubEnv& env) {
  std::string repo_dir = repo_cache_dir(env, ref.repo);
  std::optional<std::string> commit = read_ref(repo_dir, revision);
  if (!commit) return std::nullopt;
  std::string snap = repo_dir + "/snapshots/" + *commit;
  if (!fs::is_directory(snap)) return std::nullopt;
  std::vector<std::string> files = list_snapshot(snap);
  ModelFiles mf = select_model_files(files, ref.quant, {});
  if (!mf.gguf.empty()) return snap + "/" + mf.gguf;  // list_snapshot saw it: its blob is there
  if (!mf.error.empty() || !safetensors_complete(snap, files)) return std::nullopt;
  return snap;
}

}  // namespace qwen3::hub
