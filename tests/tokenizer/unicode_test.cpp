// Exhaustive checks of the Unicode layer against facts taken from the HF tokenizers binding
// (tools/tokenizer/make_unicode_tables.mjs): the Split-regex class of every code point, and HF's NFC of probe
// strings around every code point with NFC properties. Plus UTF-8 validation and from_utf8_lossy repair.
#include <gtest/gtest.h>

#include <utf8proc.h>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace qwen3::tok {
namespace {

std::string data_path(const std::string& name) {
  return test::source_dir() + "/tests/data/tokenizer/" + name;
}

std::string utf8(uint32_t cp) {
  std::string s;
  append_utf8(s, cp);
  return s;
}

std::string nfc(std::string_view s) {
  std::string out;
  return nfc_hf(s, out) ? out : std::string(s);
}

// The class table comes from the reference; utf8proc's categories must agree wherever utf8proc knows the code
// point (the table may only add characters assigned in a Unicode version newer than utf8proc's).
TEST(Unicode, ClassTableAgreesWithUtf8procOnEveryAssignedCodePoint) {
  size_t n_bad = 0, n_newer = 0;
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    CharClass ours = char_class(cp), lib = utf8proc_char_class(cp);
    if (ours == lib) continue;
    if (utf8proc_category(int32_t(cp)) == UTF8PROC_CATEGORY_CN) {
      ++n_newer;
      continue;
    }
    if (n_bad++ < 20)
      ADD_FAILURE() << "U+" << std::hex << cp << ": table " << int(ours) << ", utf8proc " << int(lib);
  }
  EXPECT_EQ(n_bad, 0u);
  EXPECT_LT(n_newer, 20000u);  // only recent additions; a wholesale disagreement would mean a broken table
  std::printf("class table: %zu code points assigned after utf8proc %s\n", n_newer,
              utf8proc_unicode_version());
  EXPECT_EQ(char_class(' '), CharClass::kSpace);
  EXPECT_EQ(char_class(0x3000), CharClass::kSpace);
  EXPECT_EQ(char_class(0x1C), CharClass::kOther);     // not White_Space, although Python's \s matches it
  EXPECT_EQ(char_class(0x180E), CharClass::kOther);   // no longer White_Space since Unicode 6.3
  EXPECT_EQ(char_class(0x2167), CharClass::kNumber);  // Nl
  EXPECT_EQ(char_class(0x00BD), CharClass::kNumber);  // No
  EXPECT_EQ(char_class(0x02B0), CharClass::kLetter);  // Lm
}

TEST(Unicode, NfcMatchesReferenceAroundEveryNormalizingCodePoint) {
  std::ifstream in(data_path("nfc.jsonl"));
  ASSERT_TRUE(in);
  size_t n = 0, n_bad = 0;
  for (std::string line; std::getline(in, line); ++n) {
    auto j = nlohmann::json::parse(line);
    uint32_t cp = j[0];
    std::string c = utf8(cp);
    // The probes of make_unicode_tables.mjs, in the same order. Probe 1 is ICU's decomposition of the code
    // point; utf8proc's NFD is the same wherever utf8proc knows the code point. (For code points newer than
    // utf8proc that probe is skipped: we cannot rebuild it.)
    const bool known = utf8proc_category(int32_t(cp)) != UTF8PROC_CATEGORY_CN;
    std::string decomposed = c;
    if (known) {
      utf8proc_uint8_t* d = utf8proc_NFD(reinterpret_cast<const utf8proc_uint8_t*>(c.c_str()));
      decomposed = reinterpret_cast<const char*>(d);
      std::free(d);
    }
    std::vector<std::string> probes = {c,
                                       decomposed,
                                       "a" + c + "\u0301",
                                       "a" + c + "\u0316",
                                       "a\u0316" + c,
                                       c + "\u0301\u0316",
                                       c + "\u11a8",
                                       "\u1100" + c};
    for (size_t k = 0; k < probes.size(); ++k) {
      if (k == 1 && !known) continue;
      std::string want = j[1][k];
      std::string got = nfc(probes[k]);
      if (got != want && n_bad++ < 20)
        ADD_FAILURE() << "U+" << std::hex << cp << " probe " << k << ": want " << nlohmann::json(want).dump()
                      << " got " << nlohmann::json(got).dump();
    }
  }
  EXPECT_GT(n, 15000u);
  EXPECT_EQ(n_bad, 0u);
}

TEST(Unicode, NfcLeavesNormalisedTextAlone) {
  std::string out;
  EXPECT_FALSE(nfc_hf("plain ascii", out));
  EXPECT_FALSE(nfc_hf("déjà vu, Ελληνικά, 中文, हिन्दी, ไทย", out));
  EXPECT_TRUE(nfc_hf("de\u0301ja\u0300", out));
  EXPECT_EQ(out, "déjà");
  EXPECT_EQ(nfc("\u212b"), "\u00c5");                // singleton decomposition
  EXPECT_EQ(nfc("\u1100\u1161\u11a8"), "\uac01");    // Hangul L V T
  EXPECT_EQ(nfc("q\u0307\u0323"), "q\u0323\u0307");  // canonical reordering
}

TEST(Unicode, FindsInvalidUtf8) {
  EXPECT_EQ(find_invalid_utf8(""), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("héllo 😀 中"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("abc\x80"), 3u);
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);          // overlong
  EXPECT_EQ(find_invalid_utf8("ab\xED\xA0\x80"), 2u);    // surrogate
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("abcdefgh\xE2\x82"), 8u);  // truncated
  EXPECT_EQ(find_invalid_utf8("\xFF"), 0u);
}

TEST(Unicode, LossyRepairReplacesMaximalSubparts) {
  auto lossy = [](std::string_view s) {
    std::string out;
    append_utf8_lossy(out, s);
    return out;
  };
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(lossy("ok"), "ok");
  EXPECT_EQ(lossy("\x80"), r);
  EXPECT_EQ(lossy("\xE2\x82"), r);  // one truncated sequence: one U+FFFD
  EXPECT_EQ(lossy("\xE2\x82x"), r + "x");
  EXPECT_EQ(lossy("\xED\xA0\x80"), r + r + r);  // surrogate: each byte on its own
  EXPECT_EQ(lossy("\xF0\x9F\x98"), r);
  EXPECT_EQ(lossy("\xC0\x80"), r + r);
  EXPECT_EQ(lossy("a\xF0\x9F\x98\x80"
                  "b"),
            "a😀b");
  std::string held;
  EXPECT_EQ(append_utf8_lossy(held, "a\xF0\x9F", /*hold_incomplete=*/true), 1u);
  EXPECT_EQ(held, "a");
}

}  // namespace
}  // namespace qwen3::tok
