// The whole model on every ISA this CPU has (QWEN3_ISA forces one): last-position logits of an 80-token
// prompt (three attention tiles) agree with the scalar reference within 1e-3 x max |logit|, the reference
// tests' tolerance, with an f32 model through `qwen3 eval`.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "kernels/kernels.h"
#include "test_util.h"

namespace qwen3::test {
namespace {

TEST(IsaModel, LogitsAgreeAcrossIsas) {
  const std::string dir = scratch_dir("isa_model_" + std::to_string(::getpid()));
  auto r =
      run_command(qwen3_binary() + " synth --preset small --dtype f32 --no-tokenizer --out " + dir + "/m");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json req = {{"n_predict", 1}, {"logits", true}};
  std::vector<int> ids;
  for (int i = 0; i < 80; ++i) ids.push_back((i * 7919 + 11) % 151643);
  req["ids"] = ids;
  auto logits_for = [&](const char* isa) {
    auto out = run_command(
        std::string("QWEN3_ISA=") + isa + " " + qwen3_binary() + " eval -m " + dir + "/m --threads 2 --jsonl",
        req.dump() + "\n");
    EXPECT_EQ(out.exit_code, 0) << isa << ": " << out.err;
    return nlohmann::json::parse(out.out)["logits"].get<std::vector<float>>();
  };
  const auto ref = logits_for("scalar");
  double max_ref = 0;
  for (float x : ref) max_ref = std::max(max_ref, static_cast<double>(std::abs(x)));
  ASSERT_GT(max_ref, 1.0);
  int compared = 0;
  for (kernels::Isa isa : {kernels::Isa::kAvx2, kernels::Isa::kAvx512}) {
    if (!kernels::isa_supported(isa)) continue;
    const auto got = logits_for(kernels::isa_name(isa));
    ASSERT_EQ(got.size(), ref.size());
    double max_diff = 0;
    for (size_t i = 0; i < ref.size(); ++i)
      max_diff = std::max(max_diff, static_cast<double>(std::abs(got[i] - ref[i])));
    EXPECT_LE(max_diff, 1e-3 * max_ref) << kernels::isa_name(isa) << ": max |diff| " << max_diff;
    std::printf("%s vs scalar: max |dlogit| = %.3g (max |logit| %.3g)\n", kernels::isa_name(isa), max_diff,
                max_ref);
    ++compared;
  }
  std::filesystem::remove_all(dir);
  if (compared == 0) GTEST_SKIP() << "this CPU has no SIMD ISA to compare";
}

}  // namespace
}  // namespace qwen3::test
