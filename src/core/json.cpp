// A SAX handler for nlohmann's iterative parser that builds the ordered_json itself: depth checked at each
// opening bracket, object members appended to the object's vector with duplicates found through a hash index
// (only for objects past a few keys, so small objects cost no allocation).
#include "core/json.h"

#include <memory>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace qwen3 {

namespace {

using ojson = nlohmann::ordered_json;

class BoundedBuilder {
 public:
  explicit BoundedBuilder(ojson& root, int max_depth) : root_(root), max_depth_(max_depth) {}

  bool null() { return put(nullptr); }
  bool boolean(bool v) { return put(v); }
  bool number_integer(ojson::number_integer_t v) { return put(v); }
  bool number_unsigned(ojson::number_unsigned_t v) { return put(v); }
  bool number_float(ojson::number_float_t v, const std::string&) { return put(v); }
  bool string(std::string& v) { return put(std::move(v)); }
  bool binary(ojson::binary_t& v) { return put(ojson::binary(std::move(v))); }

  bool start_object(std::size_t) { return open(ojson::object()); }
  bool start_array(std::size_t) { return open(ojson::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& k) {
    Frame& f = stack_.back();
    auto& members = static_cast<ojson::object_t::Container&>(f.value->get_ref<ojson::object_t&>());
    if (members.size() == kIndexFrom && !f.index) {
      f.index = std::make_unique<std::unordered_map<std::string, size_t>>();
      for (size_t i = 0; i < members.size(); ++i) f.index->emplace(members[i].first, i);
    }
    size_t found = members.size();
    if (f.index) {
      auto [it, inserted] = f.index->emplace(k, members.size());
      if (!inserted) found = it->second;
    } else {
      for (size_t i = 0; i < members.size(); ++i)
        if (members[i].first == k) found = i;
    }
    if (found == members.size()) members.emplace_back(std::move(k), nullptr);
    member_ = &members[found].second;
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::json::exception& e) {
    error_ = e.what();
    // nlohmann's messages carry their own position; keep ours for the depth error only.
    (void)position;
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  static constexpr size_t kIndexFrom = 8;
  struct Frame {
    ojson* value;
    std::unique_ptr<std::unordered_map<std::string, size_t>> index;  // objects past kIndexFrom keys
  };

  // Where the next value goes: the root, the array being filled, or the member whose key came last.
  ojson* slot() {
    if (stack_.empty()) return &root_;
    ojson* top = stack_.back().value;
    if (top->is_array()) {
      auto& a = top->get_ref<ojson::array_t&>();
      a.emplace_back();
      return &a.back();
    }
    return member_;
  }
  template <class V>
  bool put(V&& v) {
    *slot() = ojson(std::forward<V>(v));
    return true;
  }
  bool open(ojson empty) {
    if (static_cast<int>(stack_.size()) >= max_depth_) {
      error_ = strfmt("JSON nested deeper than %d levels", max_depth_);
      return false;
    }
    ojson* s = slot();
    *s = std::move(empty);
    stack_.push_back(Frame{s, nullptr});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  ojson& root_;
  int max_depth_;
  std::vector<Frame> stack_;
  ojson* member_ = nullptr;
  std::string error_;
};

}  // namespace

bool try_parse_json(std::string_view text, ojson& out, std::string* error, const JsonLimits& limits) {
  out = nullptr;
  BoundedBuilder b(out, limits.max_depth);
  bool ok = ojson::sax_parse(text.begin(), text.end(), &b);
  if (ok) return true;
  // The partly built value is released iteratively by nlohmann (and is at most max_depth deep anyway).
  out = nullptr;
  if (error) *error = b.error().empty() ? "invalid JSON" : b.error();
  return false;
}

ojson parse_json(std::string_view text, const JsonLimits& limits) {
  ojson out;
  std::string error;
  if (!try_parse_json(text, out, &error, limits)) throw Error(error);
  return out;
}

}  // namespace qwen3
