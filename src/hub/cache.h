// The Hugging Face cache layout (hub.h describes it): paths, refs, snapshot links, locks. Internal to
// src/hub.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hub/hub.h"

namespace qwen3::hub {

// "models--ORG--NAME"
std::string repo_folder_name(const std::string& repo);
// cache_dir/models--ORG--NAME
std::string repo_cache_dir(const HubEnv& env, const std::string& repo);
// True for a 40-hex-digit commit id.
bool is_commit_hash(const std::string& s);

// The commit a revision names locally: itself when a commit hash, else the content of refs/<revision>.
std::optional<std::string> read_ref(const std::string& repo_dir, const std::string& revision);
// refs/<revision> = commit (no newline), written atomically; nothing for a revision that is the commit.
void write_ref(const std::string& repo_dir, const std::string& revision, const std::string& commit);

// snapshots/<commit>/<path> -> ../../blobs/<etag> (relative; one more ../ per directory in path), replacing
// what was there. Falls back to a copy where symlinks cannot be made.
void link_snapshot_file(const std::string& repo_dir, const std::string& commit, const std::string& path,
                        const std::string& etag);

// flock(2)'d file cache_dir/.locks/models--ORG--NAME/<etag>.lock, the one huggingface_hub's filelock uses:
// two processes never write one blob at once. Released by the destructor.
class BlobLock {
 public:
  BlobLock(const HubEnv& env, const std::string& repo, const std::string& etag);
  ~BlobLock();
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

// The files of a snapshot directory, as paths relative to it (sorted).
std::vector<std::string> list_snapshot(const std::string& snapshot_dir);

}  // namespace qwen3::hub
