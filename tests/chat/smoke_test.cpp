#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "test_util.h"

using namespace qwen3;

TEST(ChatSmoke, RendersQwen3) {
  ChatTemplate t = ChatTemplate::load(test::tokenizer_dir());
  nlohmann::ordered_json msgs = nlohmann::ordered_json::parse(R"([{"role":"user","content":"hi"}])");
  RenderedPrompt r = t.render(msgs, nullptr, {});
  EXPECT_EQ(r.text, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t.eos_token(), "<|im_end|>");
  EXPECT_EQ(t.bos_token(), "");
}
