// FileBuffer's two modes hold the same bytes, and drop_mapped_pages takes a mapped file's pages out of the
// process's RSS (what keeps a converting load from holding the file beside the converted model); HugeVector's
// alignment.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/file.h"
#include "test_util.h"

namespace qwen3 {
namespace {

// Resident file-backed memory of this process (RssFile in /proc/self/status), in bytes.
size_t rss_file_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  size_t kb = 0;
  while (in >> key) {
    if (key == "RssFile:") {
      in >> kb;
      break;
    }
    std::getline(in, key);
  }
  return kb * 1024;
}

TEST(File, DroppedMappedPagesLeaveRssAndReadBackTheSame) {
  const size_t n = size_t{32} << 20;
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string path = test::scratch_dir("file_drop") + "/data.bin";
  test::write_file(path, bytes);

  FileBuffer read = FileBuffer::open(path, MapMode::kRead);
  FileBuffer mapped = FileBuffer::open(path, MapMode::kMmap);
  ASSERT_EQ(read.size(), n);
  ASSERT_EQ(mapped.size(), n);
  EXPECT_EQ(0, std::memcmp(read.data(), mapped.data(), n));  // touches every mapped page
  const size_t before = rss_file_bytes();
  // An unaligned range: only the pages wholly inside it go.
  drop_mapped_pages(mapped.data() + 100, n - 200);
  const size_t after = rss_file_bytes();
  EXPECT_GE(before, after + n - (size_t{1} << 20)) << "RssFile " << before << " -> " << after;
  // The pages come back from the file when read again, unchanged.
  EXPECT_EQ(0, std::memcmp(read.data(), mapped.data(), n));
}

// HugeVector: from kHugeVectorBytes up the storage is 2 MiB aligned (where huge pages can back it), below it
// 64-byte aligned; growing, copying and shrinking keep the values.
TEST(File, HugeVectorAlignsLargeBuffers) {
  const size_t big = kHugeVectorBytes / sizeof(float);
  HugeVector<float> small(1000, 1.5f), large(big + 3);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data()) % kHugeVectorBytes, 0u);
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<float>(i);
  large.resize(3 * big);  // reallocates: the values move with it
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data()) % kHugeVectorBytes, 0u);
  for (size_t i = 0; i < big + 3; ++i) ASSERT_EQ(large[i], static_cast<float>(i));
  EXPECT_EQ(large[3 * big - 1], 0.0f);
  small = HugeVector<float>(large.begin(), large.begin() + big);  // small grows past the threshold
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % kHugeVectorBytes, 0u);
  EXPECT_EQ(small[big - 1], static_cast<float>(big - 1));
  HugeVector<uint16_t> h(7, 9);
  EXPECT_EQ(h.get_allocator(), HugePageAllocator<float>());
  EXPECT_EQ(h[6], 9);
}

}  // namespace
}  // namespace qwen3
