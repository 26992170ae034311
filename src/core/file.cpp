#include "core/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

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
  // Two readers claim 64 MiB steps: most of a read's time is the kernel giving us fresh zeroed pages and
  // copying into them, which two cores do in about half the time (0.6B bf16: 0.50 -> 0.3 s). The calling
  // thread reports progress; the first error wins.
  constexpr size_t kStep = size_t{64} << 20;
  const size_t n_steps = (buf.size_ + kStep - 1) / kStep;
  std::atomic<size_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex error_mu;
  auto read_steps = [&](bool report) {
    for (size_t i = next++; i < n_steps && !failed; i = next++) {
      const size_t begin = i * kStep, end = std::min(buf.size_, begin + kStep);
      size_t at = begin;
      while (at < end) {
        ssize_t n = ::pread(fd, buf.data_ + at, end - at, static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          std::lock_guard lock(error_mu);
          if (!failed.exchange(true))
            error = strfmt("%s: read failed at byte %zu of %zu: %s", path.c_str(), at, buf.size_,
                           n == 0 ? "unexpected end of file" : std::strerror(errno));
          return;
        }
        at += static_cast<size_t>(n);
      }
      const size_t total = done += end - begin;
      if (report && progress) progress(total, buf.size_);
    }
  };
  std::thread helper;
  if (n_steps > 1) helper = std::thread(read_steps, false);
  read_steps(true);
  if (helper.joinable()) helper.join();
  ::close(fd);
  if (failed) {
    buf.release();
    throw_error("%s", error.c_str());
  }
  if (progress) progress(buf.size_, buf.size_);
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

// Bytes of free memory in blocks of 2 MiB or more that the kernel can give a process's pages without
// compacting (zones Normal and Movable of /proc/buddyinfo: orders 9 and up); 0 when unknown.
static size_t free_huge_block_bytes() {
  std::FILE* f = std::fopen("/proc/buddyinfo", "r");
  if (!f) return 0;
  size_t total = 0;
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    char zone[32];
    int used = 0;
    if (std::sscanf(line, "Node %*d, zone %31s%n", zone, &used) != 1) continue;
    if (std::strcmp(zone, "Normal") != 0 && std::strcmp(zone, "Movable") != 0) continue;
    const char* p = line + used;
    for (int order = 0;; ++order) {
      char* end;
      const unsigned long long n = std::strtoull(p, &end, 10);
      if (end == p) break;
      if (order >= 9) total += static_cast<size_t>(n) << (12 + order);
      p = end;
    }
  }
  std::fclose(f);
  return total;
}

namespace {

// aligned_alloc_bytes with the size from which buffers take huge pages.
void* aligned_alloc_from(size_t bytes, size_t huge_from) {
  constexpr size_t kHuge = size_t{2} << 20;
  if (bytes >= huge_from) {
    const size_t rounded = (bytes + kHuge - 1) & ~(kHuge - 1);
    void* p = std::aligned_alloc(kHuge, rounded);
    QWEN3_CHECK(p != nullptr, "out of memory allocating %zu bytes", bytes);
    // Advice only, and only for as many huge pages as the kernel has free: beyond that it compacts memory
    // at each fault ("defrag: madvise"), which stalled a 0.6B load from 0.4 s to 1-2 s on a busy machine.
    const size_t advised = std::min(rounded, free_huge_block_bytes() & ~(kHuge - 1));
    if (advised > 0) ::madvise(p, advised, MADV_HUGEPAGE);
    return p;
  }
  size_t rounded = (bytes + 63) & ~size_t{63};
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  QWEN3_CHECK(p != nullptr, "out of memory allocating %zu bytes", bytes);
  return p;
}

}  // namespace

void* aligned_alloc_bytes(size_t bytes) {
  return aligned_alloc_from(bytes, kHugeBufferBytes);
}

void* huge_vector_alloc(size_t bytes) {
  return aligned_alloc_from(bytes, kHugeVectorBytes);
}

}  // namespace qwen3
