#include "core/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace qwen3 {

FileBuffer FileBuffer::open(const std::string& path, MapMode mode,
                            const std::function<void(size_t, size_t)>& progress) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  QWEN3_CHECK(fd >= 0, "%s: cannot open: %s", path.c_str(), std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_error("%s: not a regular file", path.c_str());
  }
  FileBuffer buf;
  buf.path_ = path;
  buf.size_ = static_cast<size_t>(st.st_size);
  if (buf.size_ == 0) {
    ::close(fd);
    return buf;
  }
  if (mode == MapMode::kMmap) {
    void* p = ::mmap(nullptr, buf.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    QWEN3_CHECK(p != MAP_FAILED, "%s: mmap failed: %s", path.c_str(), std::strerror(errno));
    buf.data_ = static_cast<uint8_t*>(p);
    buf.mapped_ = true;
    return buf;
  }
  buf.data_ = static_cast<uint8_t*>(aligned_alloc_bytes(buf.size_));
  size_t done = 0;
  while (done < buf.size_) {
    size_t want = std::min<size_t>(buf.size_ - done, size_t{64} << 20);  // 64 MiB steps for the progress bar
    ssize_t n = ::pread(fd, buf.data_ + done, want, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      throw_error("%s: read failed after %zu of %zu bytes: %s", path.c_str(), done, buf.size_,
                  n == 0 ? "unexpected end of file" : std::strerror(err));
    }
    done += static_cast<size_t>(n);
    if (progress) progress(done, buf.size_);
  }
  ::close(fd);
  return buf;
}

FileBuffer::FileBuffer(FileBuffer&& other) noexcept {
  *this = std::move(other);
}

FileBuffer& FileBuffer::operator=(FileBuffer&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    mapped_ = other.mapped_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

FileBuffer::~FileBuffer() {
  release();
}

void FileBuffer::release() {
  if (!data_) return;
  if (mapped_) {
    ::munmap(data_, size_);
  } else {
    std::free(data_);
  }
  data_ = nullptr;
  size_ = 0;
}

void drop_mapped_pages(const void* p, size_t n) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);  // advice only
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  QWEN3_CHECK(in.good(), "%s: cannot open: %s", path.c_str(), std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

size_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
}

void AlignedFree::operator()(void* p) const {
  std::free(p);
}

void* aligned_alloc_bytes(size_t bytes) {
  size_t rounded = (bytes + 63) & ~size_t{63};
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  QWEN3_CHECK(p != nullptr, "out of memory allocating %zu bytes", bytes);
  return p;
}

}  // namespace qwen3
