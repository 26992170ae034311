#include "formats/gguf_reader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace qwen3::gguf {

namespace {

// Little-endian reads with a bounds check each; `what` names the item in the error.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& path) : p_(data), size_(size), path_(path) {}
  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }
  void need(size_t n, const char* what, const std::string& name = "") const {
    if (n > left())
      throw_error("%s: truncated: %s%s%s at byte %zu needs %zu bytes, the file has %zu", path_.c_str(), what,
                  name.empty() ? "" : " of ", name.c_str(), pos_, n, size_);
  }
  template <typename T>
  T pod(const char* what, const std::string& name = "") {
    need(sizeof(T), what, name);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string str(const char* what, const std::string& name = "") {
    const uint64_t n = pod<uint64_t>(what, name);
    need(n, what, name);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const uint8_t* p_;
  size_t size_, pos_ = 0;
  const std::string& path_;
};

size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kBool:
      return 1;
    case ValueType::kU16:
    case ValueType::kI16:
      return 2;
    case ValueType::kU32:
    case ValueType::kI32:
    case ValueType::kF32:
      return 4;
    case ValueType::kU64:
    case ValueType::kI64:
    case ValueType::kF64:
    case ValueType::kString:  // its length; the bytes follow
      return 8;
    case ValueType::kArray:
      return 12;  // element type and count
  }
  return 0;
}

bool known_type(uint32_t t) {
  return t <= static_cast<uint32_t>(ValueType::kF64);
}

// One scalar of type t into v (integers into v.i, floats into v.f, strings into v.s).
void read_scalar(Reader& r, ValueType t, Value& v, const std::string& key) {
  switch (t) {
    case ValueType::kU8:
      v.i = r.pod<uint8_t>("value", key);
      return;
    case ValueType::kI8:
      v.i = r.pod<int8_t>("value", key);
      return;
    case ValueType::kU16:
      v.i = r.pod<uint16_t>("value", key);
      return;
    case ValueType::kI16:
      v.i = r.pod<int16_t>("value", key);
      return;
    case ValueType::kU32:
      v.i = r.pod<uint32_t>("value", key);
      return;
    case ValueType::kI32:
      v.i = r.pod<int32_t>("value", key);
      return;
    case ValueType::kU64:
      v.i = static_cast<int64_t>(r.pod<uint64_t>("value", key));
      return;
    case ValueType::kI64:
      v.i = r.pod<int64_t>("value", key);
      return;
    case ValueType::kBool:
      v.i = r.pod<uint8_t>("value", key) != 0;
      return;
    case ValueType::kF32:
      v.f = r.pod<float>("value", key);
      return;
    case ValueType::kF64:
      v.f = r.pod<double>("value", key);
      return;
    case ValueType::kString:
      v.s = r.str("string value", key);
      return;
    case ValueType::kArray:
      break;
  }
  QWEN3_ASSERT(false);
}

// A value of type t; arrays of arrays are read through and dropped (nothing here uses them).
Value read_value(Reader& r, ValueType t, const std::string& key, const std::string& path, int depth = 0) {
  Value v;
  v.type = t;
  if (t != ValueType::kArray) {
    read_scalar(r, t, v, key);
    return v;
  }
  const uint32_t elem = r.pod<uint32_t>("array type", key);
  QWEN3_CHECK(known_type(elem), "%s: key '%s': unknown array element type %u", path.c_str(), key.c_str(),
              elem);
  v.elem = static_cast<ValueType>(elem);
  const uint64_t n = r.pod<uint64_t>("array length", key);
  // Each element takes at least scalar_size bytes: a count the rest of the file cannot hold is a truncation,
  // found before anything is allocated for it.
  if (n > r.left() / scalar_size(v.elem))
    throw_error(
        "%s: truncated: array %s of %llu elements at byte %zu needs at least %llu bytes, %zu are left",
        path.c_str(), key.c_str(), static_cast<unsigned long long>(n), r.pos(),
        static_cast<unsigned long long>(n > ~0ull / 8 ? ~0ull : n * scalar_size(v.elem)), r.left());
  QWEN3_CHECK(depth < 8, "%s: key '%s': arrays nested too deep", path.c_str(), key.c_str());
  Value one;
  for (uint64_t i = 0; i < n; ++i) {
    if (v.elem == ValueType::kArray) {
      read_value(r, v.elem, key, path, depth + 1);
    } else if (v.elem == ValueType::kString) {
      v.strings.push_back(r.str("string in array", key));
    } else {
      read_scalar(r, v.elem, one, key);
      if (v.elem == ValueType::kF32 || v.elem == ValueType::kF64)
        v.floats.push_back(one.f);
      else
        v.ints.push_back(one.i);
    }
  }
  return v;
}

bool is_int(ValueType t) {
  return t != ValueType::kF32 && t != ValueType::kF64 && t != ValueType::kString && t != ValueType::kArray &&
         t != ValueType::kBool;
}

}  // namespace

bool is_gguf_path(const std::string& path) {
  struct stat st;
  return path.ends_with(".gguf") && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

uint32_t File::get_u32(const std::string& key) const {
  auto it = kv.find(key);
  QWEN3_CHECK(it != kv.end(), "%s: missing key %s", path.c_str(), key.c_str());
  const Value& v = it->second;
  QWEN3_CHECK(is_int(v.type) && v.i >= 0 && v.i <= std::numeric_limits<uint32_t>::max(),
              "%s: key %s must be a non-negative 32-bit integer (found a %s)", path.c_str(), key.c_str(),
              value_type_name(v.type));
  return static_cast<uint32_t>(v.i);
}

uint32_t File::get_u32(const std::string& key, uint32_t fallback) const {
  return has(key) ? get_u32(key) : fallback;
}

double File::get_f64(const std::string& key, double fallback) const {
  auto it = kv.find(key);
  if (it == kv.end()) return fallback;
  QWEN3_CHECK(it->second.type == ValueType::kF32 || it->second.type == ValueType::kF64,
              "%s: key %s must be a float (found a %s)", path.c_str(), key.c_str(),
              value_type_name(it->second.type));
  return it->second.f;
}

const std::string& File::get_str(const std::string& key) const {
  auto it = kv.find(key);
  QWEN3_CHECK(it != kv.end(), "%s: missing key %s", path.c_str(), key.c_str());
  QWEN3_CHECK(it->second.type == ValueType::kString, "%s: key %s must be a string (found a %s)", path.c_str(),
              key.c_str(), value_type_name(it->second.type));
  return it->second.s;
}

File read_file(const std::string& path, MapMode mode, const std::function<void(size_t, size_t)>& progress) {
  File f;
  f.path = path;
  f.buffer = FileBuffer::open(path, mode, progress);
  Reader r(f.buffer.data(), f.buffer.size(), path);
  QWEN3_CHECK(f.buffer.size() >= 4, "%s: truncated: %zu bytes, not a GGUF file", path.c_str(),
              f.buffer.size());
  const uint32_t magic = r.pod<uint32_t>("magic");
  QWEN3_CHECK(magic == kMagic, "%s: not a GGUF file (it does not start with \"GGUF\")", path.c_str());
  f.version = r.pod<uint32_t>("version");
  QWEN3_CHECK(f.version == 2 || f.version == 3, "%s: GGUF version %u is not supported (2 or 3)", path.c_str(),
              f.version);
  const uint64_t n_tensors = r.pod<uint64_t>("tensor count"), n_kv = r.pod<uint64_t>("metadata count");
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.str("metadata key");
    const uint32_t t = r.pod<uint32_t>("value type", key);
    QWEN3_CHECK(known_type(t), "%s: key '%s': unknown value type %u", path.c_str(), key.c_str(), t);
    Value v = read_value(r, static_cast<ValueType>(t), key, path);
    QWEN3_CHECK(f.kv.emplace(key, std::move(v)).second, "%s: key '%s' appears twice", path.c_str(),
                key.c_str());
  }
  const uint32_t alignment = f.get_u32("general.alignment", kDefaultAlignment);
  QWEN3_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0,
              "%s: general.alignment %u is not a power of two", path.c_str(), alignment);
  std::vector<uint64_t> offsets;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    r.need(8 + 4 + 8 + 4 + 8, "tensor info");  // the smallest one: no name, one dimension
    TensorInfo t;
    t.name = r.str("tensor name");
    const uint32_t n_dims = r.pod<uint32_t>("dimension count", t.name);
    QWEN3_CHECK(n_dims >= 1 && n_dims <= 4, "%s: tensor '%s' has %u dimensions (1 to 4 allowed)",
                path.c_str(), t.name.c_str(), n_dims);
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t n = r.pod<uint64_t>("dimension", t.name);
      QWEN3_CHECK(n >= 1 && n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / n_elements),
                  "%s: tensor '%s' has a bad dimension %llu", path.c_str(), t.name.c_str(),
                  static_cast<unsigned long long>(n));
      t.ne.push_back(static_cast<int64_t>(n));
      n_elements *= static_cast<int64_t>(n);
    }
    t.type = r.pod<uint32_t>("tensor type", t.name);
    offsets.push_back(r.pod<uint64_t>("tensor offset", t.name));
    QWEN3_CHECK(offsets.back() % alignment == 0, "%s: tensor '%s' at offset %llu, not a multiple of %u",
                path.c_str(), t.name.c_str(), static_cast<unsigned long long>(offsets.back()), alignment);
    if (std::optional<DType> d = dtype_of_ggml(t.type)) {
      const int block = dtype_block_values(*d);
      QWEN3_CHECK(t.ne[0] % block == 0,
                  "%s: tensor '%s' is %s but its rows of %lld are not whole blocks of %d", path.c_str(),
                  t.name.c_str(), dtype_name(*d), static_cast<long long>(t.ne[0]), block);
      const size_t rows = static_cast<size_t>(n_elements / t.ne[0]);
      QWEN3_CHECK(!__builtin_mul_overflow(dtype_row_bytes(*d, t.ne[0]), rows, &t.n_bytes),
                  "%s: tensor '%s' is too large", path.c_str(), t.name.c_str());
    }
    f.tensors.push_back(std::move(t));
  }
  const size_t data_offset = (r.pos() + alignment - 1) / alignment * alignment;
  const size_t size = f.buffer.size();
  std::vector<std::pair<uint64_t, size_t>> ranges;  // [offset, offset + bytes) of each tensor, for overlaps
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    TensorInfo& t = f.tensors[i];
    const uint64_t begin = offsets[i];
    QWEN3_CHECK(data_offset <= size && begin <= size - data_offset && t.n_bytes <= size - data_offset - begin,
                "%s: truncated: tensor '%s' needs bytes %llu to %llu, the file has %zu", path.c_str(),
                t.name.c_str(), static_cast<unsigned long long>(data_offset + begin),
                static_cast<unsigned long long>(data_offset + begin + t.n_bytes), size);
    t.data = f.buffer.data() + data_offset + begin;
    ranges.emplace_back(begin, i);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t k = 1; k < ranges.size(); ++k) {
    const TensorInfo& prev = f.tensors[ranges[k - 1].second];
    QWEN3_CHECK(ranges[k - 1].first + prev.n_bytes <= ranges[k].first, "%s: tensors '%s' and '%s' overlap",
                path.c_str(), prev.name.c_str(), f.tensors[ranges[k].second].name.c_str());
  }
  std::vector<std::string> names;
  for (const TensorInfo& t : f.tensors) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  auto dup = std::adjacent_find(names.begin(), names.end());
  QWEN3_CHECK(dup == names.end(), "%s: tensor '%s' appears twice", path.c_str(), dup->c_str());
  return f;
}

Vocab read_vocab(const File& f) {
  Vocab v;
  QWEN3_CHECK(f.has("tokenizer.ggml.model"), "%s: no tokenizer in the file (no key tokenizer.ggml.model)",
              f.path.c_str());
  v.model = f.get_str("tokenizer.ggml.model");
  v.pre = f.has("tokenizer.ggml.pre") ? f.get_str("tokenizer.ggml.pre") : "default";
  auto array = [&](const char* key, ValueType elem) -> const Value* {
    auto it = f.kv.find(key);
    if (it == f.kv.end()) return nullptr;
    const Value& a = it->second;
    const bool ok = a.type == ValueType::kArray &&
                    (elem == ValueType::kString ? a.elem == ValueType::kString : is_int(a.elem));
    QWEN3_CHECK(ok, "%s: key %s must be an array of %s", f.path.c_str(), key,
                elem == ValueType::kString ? "strings" : "integers");
    return &a;
  };
  const Value* tokens = array("tokenizer.ggml.tokens", ValueType::kString);
  QWEN3_CHECK(tokens, "%s: missing key tokenizer.ggml.tokens", f.path.c_str());
  v.tokens = tokens->strings;
  if (const Value* types = array("tokenizer.ggml.token_type", ValueType::kI32)) {
    QWEN3_CHECK(types->ints.size() == v.tokens.size(), "%s: %zu token types for %zu tokens", f.path.c_str(),
                types->ints.size(), v.tokens.size());
    v.token_types.assign(types->ints.begin(), types->ints.end());
  } else {
    v.token_types.assign(v.tokens.size(), kNormal);
  }
  if (const Value* merges = array("tokenizer.ggml.merges", ValueType::kString)) v.merges = merges->strings;
  auto id = [&](const char* key, std::optional<uint32_t>& out) {
    const std::string k = std::string("tokenizer.ggml.") + key;
    if (f.has(k)) out = f.get_u32(k);
  };
  id("bos_token_id", v.bos);
  id("eos_token_id", v.eos);
  id("unknown_token_id", v.unk);
  id("seperator_token_id", v.sep);
  id("padding_token_id", v.pad);
  id("mask_token_id", v.mask);
  auto flag = [&](const char* key, std::optional<bool>& out) {
    auto it = f.kv.find(key);
    if (it != f.kv.end() && it->second.type == ValueType::kBool) out = it->second.i != 0;
  };
  flag("tokenizer.ggml.add_bos_token", v.add_bos);
  flag("tokenizer.ggml.add_eos_token", v.add_eos);
  if (f.has("tokenizer.chat_template")) v.chat_template = f.get_str("tokenizer.chat_template");
  return v;
}

}  // namespace qwen3::gguf
