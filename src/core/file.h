// Reading files into memory. Model weights go into anonymous memory by default: these machines page out
// file-backed mappings under memory pressure, and a weight matrix that has to come back from disk turns a
// 20 ms decode step into seconds. MapMode::kMmap keeps the page-cache mapping for those who want it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace qwen3 {

enum class MapMode { kRead, kMmap };

// A read-only byte buffer holding a whole file, either copied into anonymous memory or mmapped.
class FileBuffer {
 public:
  // progress(bytes_read, file_size) is called as the file is read (not for kMmap).
  static FileBuffer open(const std::string& path, MapMode mode = MapMode::kRead,
                         const std::function<void(size_t, size_t)>& progress = nullptr);
  FileBuffer() = default;
  FileBuffer(FileBuffer&& other) noexcept;
  FileBuffer& operator=(FileBuffer&& other) noexcept;
  ~FileBuffer();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

// Gives the pages wholly inside [p, p + n) of a read-only file mapping (MapMode::kMmap) back to the kernel
// (madvise MADV_DONTNEED): they leave this process's RSS and would be read again from the page cache if
// touched. Loading calls it on each part of a tensor once copied out, so a converted model is never resident
// beside the whole file it came from. Only for mapped files: anonymous pages would come back as zeros.
void drop_mapped_pages(const void* p, size_t n);
// Reads a whole (small) text file; throws Error naming the file when it cannot.
std::string read_text_file(const std::string& path);
bool file_exists(const std::string& path);
size_t file_size(const std::string& path);  // 0 when it cannot be read
// 64-byte aligned anonymous allocation for weights and activations.
struct AlignedFree {
  void operator()(void* p) const;
};
template <typename T>
using AlignedPtr = std::unique_ptr<T[], AlignedFree>;
// 64-byte aligned. Buffers of kHugeBufferBytes or more (weights, the bandwidth probe's) are 2 MiB aligned and
// advised to take transparent huge pages (Linux's default is "madvise": only when asked), as many as the
// kernel has free: a stream over them then meets a new page (a TLB miss, and a stop for the hardware
// prefetcher, which does not cross pages) every 2 MiB instead of every 4 KiB. Measured: q4_0 decode of the
// 0.6B model +7-17 % side by side.
constexpr size_t kHugeBufferBytes = size_t{8} << 20;
void* aligned_alloc_bytes(size_t bytes);
template <typename T>
AlignedPtr<T> aligned_array(size_t n) {
  return AlignedPtr<T>(static_cast<T*>(aligned_alloc_bytes(n * sizeof(T))));
}

// std::vector's allocator for large working buffers (a training step's activations and gradients, 2-160 MB
// each at 512 tokens): blocks of kHugeVectorBytes or more as aligned_alloc_bytes gives its large buffers
// (2 MiB aligned, huge pages advised while the kernel has them free), smaller ones 64-byte aligned. With
// 4 KiB pages the first step of a 0.6B fine-tune took some 85,000 more page faults (slow ones on these
// virtual machines: about a second of that step) and every step after it more TLB misses.
constexpr size_t kHugeVectorBytes = size_t{2} << 20;
void* huge_vector_alloc(size_t bytes);
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() noexcept = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(huge_vector_alloc(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { AlignedFree()(p); }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
};
template <typename T>
using HugeVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace qwen3
