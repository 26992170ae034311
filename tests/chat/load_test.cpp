// ChatTemplate::load: where the template comes from (tokenizer_config.json string or list form,
// chat_template.jinja) and clear errors when it is missing or broken.
#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "core/error.h"
#include "test_util.h"

using namespace qwen3;
using ojson = nlohmann::ordered_json;

namespace {
std::string render_one(const ChatTemplate& t) {
  return t.render(ojson::parse(R"([{"role": "user", "content": "x"}])"), nullptr, {}).text;
}
}  // namespace

TEST(ChatLoad, StringListAndJinjaFile) {
  std::string dir = test::scratch_dir("chat_load");
  test::write_file(dir + "/tokenizer_config.json",
                   R"({"chat_template": "A{{ messages[0].content }}{{ eos_token }}", "eos_token": {"content": "<e>"}})");
  EXPECT_EQ(render_one(ChatTemplate::load(dir)), "Ax<e>");
  test::write_file(dir + "/tokenizer_config.json",
                   R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
  EXPECT_EQ(render_one(ChatTemplate::load(dir)), "D");
  test::write_file(dir + "/chat_template.jinja", "J{{ messages | length }}\n");
  EXPECT_EQ(render_one(ChatTemplate::load(dir)), "J1");  // the separate file wins; its final newline is dropped
}

TEST(ChatLoad, Errors) {
  std::string dir = test::scratch_dir("chat_load_errors");
  test::write_file(dir + "/tokenizer_config.json", R"({"eos_token": "<e>"})");
  EXPECT_THROW(ChatTemplate::load(dir), Error);
  test::write_file(dir + "/tokenizer_config.json", R"({"chat_template": [{"name": "x", "template": "T"}]})");
  EXPECT_THROW(ChatTemplate::load(dir), Error);
  test::write_file(dir + "/tokenizer_config.json", "{not json");
  EXPECT_THROW(ChatTemplate::load(dir), Error);
  test::write_file(dir + "/tokenizer_config.json", R"({"chat_template": "{% for %}"})");
  try {
    ChatTemplate::load(dir);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
  }
  ChatTemplate t = ChatTemplate::from_source("{{ messages }}");
  EXPECT_THROW(t.render(ojson::object(), nullptr, {}), Error);
  EXPECT_THROW(t.render(ojson::array(), ojson::object(), {}), Error);
}
