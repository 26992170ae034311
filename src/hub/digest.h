// Digests that name the blobs of the Hugging Face cache: the sha256 of an LFS file (its X-Linked-Etag) and
// the git blob sha1 of a file kept in git itself (its ETag). Both read the file in 1 MiB pieces (OpenSSL's
// EVP digests); hub_tests compares them with Python's hashlib on the stand-in Hub's files.
#pragma once

#include <string>

namespace qwen3::hub {

// Lower-case hex sha256 of the file's bytes. Throws qwen3::Error when it cannot be read.
std::string sha256_file(const std::string& path);
// Lower-case hex sha1 of "blob <size>\0" + the file's bytes (what `git hash-object` prints).
std::string git_blob_sha1_file(const std::string& path);

}  // namespace qwen3::hub
