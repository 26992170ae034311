#include "formats/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace qwen3::gguf {

namespace {

// Little-endian output through stdio's buffer (this engine only builds for x86-64).
class Out {
 public:
  Out(FILE* f) : f_(f) {}
  void bytes(const void* p, size_t n) {
    ok_ = ok_ && std::fwrite(p, 1, n, f_) == n;
    pos_ += n;
  }
  template <typename T>
  void pod(T v) {
    bytes(&v, sizeof v);
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(size_t alignment) {
    static const uint8_t kZeros[64] = {};
    while (pos_ % alignment) bytes(kZeros, std::min(sizeof kZeros, alignment - pos_ % alignment));
  }
  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }

 private:
  FILE* f_;
  bool ok_ = true;
  size_t pos_ = 0;
};

void write_scalar(Out& o, ValueType t, const Value& v) {
  switch (t) {
    case ValueType::kU8:
      return o.pod(static_cast<uint8_t>(v.i));
    case ValueType::kI8:
      return o.pod(static_cast<int8_t>(v.i));
    case ValueType::kU16:
      return o.pod(static_cast<uint16_t>(v.i));
    case ValueType::kI16:
      return o.pod(static_cast<int16_t>(v.i));
    case ValueType::kU32:
      return o.pod(static_cast<uint32_t>(v.i));
    case ValueType::kI32:
      return o.pod(static_cast<int32_t>(v.i));
    case ValueType::kU64:
      return o.pod(static_cast<uint64_t>(v.i));
    case ValueType::kI64:
      return o.pod(static_cast<int64_t>(v.i));
    case ValueType::kF32:
      return o.pod(static_cast<float>(v.f));
    case ValueType::kF64:
      return o.pod(v.f);
    case ValueType::kBool:
      return o.pod(static_cast<uint8_t>(v.i != 0));
    case ValueType::kString:
      return o.str(v.s);
    case ValueType::kArray:
      break;
  }
  QWEN3_ASSERT(false);
}

void write_value(Out& o, const Value& v) {
  o.pod(static_cast<uint32_t>(v.type));
  if (v.type != ValueType::kArray) return write_scalar(o, v.type, v);
  o.pod(static_cast<uint32_t>(v.elem));
  Value one;
  switch (v.elem) {
    case ValueType::kString:
      o.pod<uint64_t>(v.strings.size());
      for (const std::string& s : v.strings) o.str(s);
      return;
    case ValueType::kF32:
    case ValueType::kF64:
      o.pod<uint64_t>(v.floats.size());
      for (double x : v.floats) {
        one.f = x;
        write_scalar(o, v.elem, one);
      }
      return;
    case ValueType::kArray:
      QWEN3_ASSERT(false);  // nested arrays: never written
    default:
      o.pod<uint64_t>(v.ints.size());
      for (int64_t x : v.ints) {
        one.i = x;
        write_scalar(o, v.elem, one);
      }
      return;
  }
}

size_t expected_bytes(const WriteTensor& t) {
  std::optional<DType> d = dtype_of_ggml(static_cast<uint32_t>(t.type));
  QWEN3_ASSERT(d && !t.ne.empty());
  QWEN3_ASSERT((*d != DType::kQ8_0 && *d != DType::kQ4_0) || t.ne[0] % kQuantBlock == 0);
  size_t n = dtype_row_bytes(*d, t.ne[0]);
  for (size_t i = 1; i < t.ne.size(); ++i) n *= static_cast<size_t>(t.ne[i]);
  return n;
}

}  // namespace

void write_file(const std::string& path, const KeyValues& kv, const std::vector<WriteTensor>& tensors,
                const std::function<void(size_t, uint8_t*)>& fill,
                const std::function<void(size_t, size_t)>& progress) {
  constexpr size_t kAlign = kDefaultAlignment;
  // Written beside the target and renamed at the end, so that a failed run never leaves a truncated file
  // under the name asked for.
  const std::string part = path + ".part";
  struct RemoveUnlessDone {
    const std::string& path;
    bool done = false;
    ~RemoveUnlessDone() {
      if (!done) std::remove(path.c_str());
    }
  } guard{part};
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(part.c_str(), "wb"), std::fclose);
  QWEN3_CHECK(f != nullptr, "%s: cannot create: %s", part.c_str(), std::strerror(errno));
  Out o(f.get());
  o.pod(kMagic);
  o.pod(kVersion);
  o.pod<uint64_t>(tensors.size());
  o.pod<uint64_t>(kv.size() + 1);
  o.str("general.alignment");
  write_value(o, Value::u32(kAlign));
  for (const auto& [key, value] : kv) {
    QWEN3_ASSERT(key != "general.alignment");
    o.str(key);
    write_value(o, value);
  }
  size_t offset = 0, total = 0;
  for (const WriteTensor& t : tensors) {
    QWEN3_ASSERT(t.n_bytes == expected_bytes(t));
    o.str(t.name);
    o.pod<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t n : t.ne) o.pod<uint64_t>(static_cast<uint64_t>(n));
    o.pod(static_cast<uint32_t>(t.type));
    o.pod<uint64_t>(offset);
    offset += (t.n_bytes + kAlign - 1) / kAlign * kAlign;
    total += t.n_bytes;
  }
  o.pad_to(kAlign);
  std::vector<uint8_t> buf;
  size_t done = 0;
  for (size_t i = 0; i < tensors.size() && o.ok(); ++i) {
    buf.assign(tensors[i].n_bytes, 0);
    fill(i, buf.data());
    o.bytes(buf.data(), buf.size());
    o.pad_to(kAlign);
    done += buf.size();
    if (progress) progress(done, total);
  }
  const bool written = o.ok() && std::fflush(f.get()) == 0;
  const int write_errno = errno;
  QWEN3_CHECK(written, "%s: write failed: %s", part.c_str(), std::strerror(write_errno));
  QWEN3_CHECK(std::fclose(f.release()) == 0, "%s: write failed: %s", part.c_str(), std::strerror(errno));
  QWEN3_CHECK(std::rename(part.c_str(), path.c_str()) == 0, "%s: cannot rename %s to it: %s", path.c_str(),
              part.c_str(), std::strerror(errno));
  guard.done = true;
}

}  // namespace qwen3::gguf
