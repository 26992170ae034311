// libFuzzer harness: a request body through the server's validator (server/api.h) with the real Qwen3
// tokenizer and chat template, then, when it is accepted, through the response builder with a few tokens
// (reasoning, tool-call and plain ids). A body must be accepted or refused with ApiError / qwen3::Error:
// any other exception, crash or sanitizer report is a bug. The first byte picks the endpoint: chat or legacy
// completions, the Responses API, Ollama's chat or generate, Anthropic's messages.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "core/error.h"
#include "server/anthropic_api.h"
#include "server/api.h"
#include "server/ollama_api.h"
#include "server/responses_api.h"

namespace {

struct Fixture {
  qwen3::Model model;
  qwen3::Tokenizer tokenizer = qwen3::Tokenizer::load(QWEN3_SOURCE_DIR "/.cache/qwen3-tokenizer");
  qwen3::ChatTemplate chat_template = qwen3::ChatTemplate::load(QWEN3_SOURCE_DIR "/.cache/qwen3-tokenizer");
  qwen3::server::ServedModel served;
  Fixture() {
    model.n_vocab_tokens = 151669;
    served.model = &model;
    served.tokenizer = &tokenizer;
    served.chat_template = &chat_template;
    served.id = "fuzz";
    served.n_ctx = 4096;
    served.n_parallel = 4;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  if (size == 0) return 0;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  static qwen3::server::ResponseStore store;
  try {
    qwen3::server::Prepared p;
    switch (data[0] % 6) {
      case 0:
      case 1: {
        bool chat = data[0] % 6 == 1;
        p.request = std::make_unique<qwen3::server::ApiRequest>(
            chat ? qwen3::server::parse_chat_request(body, f.served)
                 : qwen3::server::parse_completion_request(body, f.served));
        p.writer = std::make_unique<qwen3::server::ResponseBuilder>(*p.request, f.served, "chatcmpl-fuzz", 0);
        break;
      }
      case 2:
        p = qwen3::server::prepare_response(body, f.served, store);
        break;
      case 3:
        p = qwen3::server::prepare_ollama_chat(body, f.served);
        break;
      case 4:
        p = qwen3::server::prepare_ollama_generate(body, f.served);
        break;
      default:
        p = qwen3::server::prepare_messages(body, f.served);
        break;
    }
    if (!p.request) return 0;  // answered at once (Ollama's load request)
    qwen3::server::ResponseWriter& b = *p.writer;
    b.start();
    const int32_t ids[] = {151667, 9707, 151668, 151657, 4913, 606, 151658, 13048, 151645};
    for (int i = 0; i < p.request->n; ++i) {
      for (int32_t id : ids) b.on_token(i, id, f.tokenizer.decode(std::vector<int32_t>{id}), nullptr);
      qwen3::SequenceOutcome out;
      out.generation.tokens.assign(std::begin(ids), std::end(ids));
      b.on_done(i, out);
    }
  } catch (const qwen3::server::ApiError&) {
  } catch (const qwen3::Error&) {
  }
  return 0;
}
