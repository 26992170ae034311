#include "hub/digest.h"

#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/error.h"

namespace qwen3::hub {

namespace {

std::string file_digest(const std::string& path, const EVP_MD* md, const std::string& prefix) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  QWEN3_CHECK(f, "%s: cannot open for reading", path.c_str());
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  QWEN3_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1, "OpenSSL: cannot start a digest");
  EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size());
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) EVP_DigestUpdate(ctx.get(), buf.data(), n);
  QWEN3_CHECK(!std::ferror(f.get()), "%s: read error", path.c_str());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[out[i] >> 4];
    hex += kHex[out[i] & 15];
  }
  return hex;
}

}  // namespace

std::string sha256_file(const std::string& path) {
  return file_digest(path, EVP_sha256(), "");
}

std::string git_blob_sha1_file(const std::string& path) {
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(path, ec);
  QWEN3_CHECK(!ec, "%s: %s", path.c_str(), ec.message().c_str());
  std::string prefix = "blob " + std::to_string(size);
  prefix.push_back('\0');
  return file_digest(path, EVP_sha1(), prefix);
}

}  // namespace qwen3::hub
