// qwen3 serve: the OpenAI-compatible HTTP server (src/server) with continuous batching (engine/scheduler).
// Every flag is checked as it is parsed; QWEN3_PARALLEL, QWEN3_CTX_SIZE and QWEN3_API_KEY stand in for flags
// not given (and model_args.h's variables).
#include <climits>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "model/config.h"
#include "server/server.h"
#include "server/webui.h"

namespace qwen3::cli {

namespace {

struct ServeArgs {
  ModelArgs model;
  server::ServerOptions server;
  size_t max_body_kib = 8192;
};

void run_serve(const ServeArgs& a) {
  server::ServerOptions opt = a.server;
  // Each flag was checked as it was parsed; what needs two flags or the model is checked here, before the
  // port is bound (config.json only), so a bad one fails at once.
  QWEN3_CHECK(opt.max_batch_tokens >= opt.n_parallel,
              "--batch %d: must be at least --parallel (%d): a token per slot", opt.max_batch_tokens,
              opt.n_parallel);
  opt.max_body_bytes = a.max_body_kib * 1024;
  const ModelConfig config = load_model_config(resolve_model_dir(a.model.model));
  QWEN3_CHECK(opt.n_ctx >= 2 && opt.n_ctx <= config.max_context(),
              "--ctx %d: choose 2..%d (the model's maximum)", opt.n_ctx, config.max_context());
  opt.kv_type = kv_type_for(a.model.kv_type, config);
  int n_named = 0;
  for (const auto& v : a.model.lora) n_named += parse_lora_spec(v).name.empty() ? 0 : 1;
  QWEN3_CHECK(n_named <= opt.max_loras, "%d named --lora adapters but --max-loras is %d", n_named,
              opt.max_loras);
  std::unique_ptr<ThreadPool> pool = make_pool(a.model);
  server::run_server(
      [&] {
        server::LoadedModel m;
        m.model = load_model_from_args(a.model, true);
        for (const auto& v : a.model.lora)
          if (LoraSpec s = parse_lora_spec(v); !s.name.empty()) m.adapters.push_back(s);
        m.tokenizer = std::make_unique<Tokenizer>(Tokenizer::load(m.model->dir));
        m.chat_template = std::make_unique<ChatTemplate>(ChatTemplate::load(m.model->dir));
        return m;
      },
      pool.get(), opt);
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching");
  add_model_options(cmd, a->model);
  add_kv_type_option(cmd, a->model.kv_type);
  // No variable for --host and --port: Kubernetes defines QWEN3_PORT=tcp://ADDRESS:PORT in every pod beside a
  // Service named qwen3 (as deploy/kubernetes names it).
  cmd->add_option("--host", a->server.host, "address to listen on")->capture_default_str();
  check_int(cmd->add_option("--port", a->server.port, "port (0: any free port, printed on stderr)")
                ->capture_default_str(),
            0, 65535, "(0: any free port)");
  cmd->add_option("--api-key", a->server.api_key, "require 'Authorization: Bearer KEY' (not for /health)")
      ->envname("QWEN3_API_KEY");
  check_int(cmd->add_option("--parallel,--np", a->server.n_parallel,
                            "sequences decoded together (KV-cache slots; llama.cpp's -np)")
                ->envname("QWEN3_PARALLEL")
                ->capture_default_str(),
            1, 256);
  check_int(cmd->add_option("-c,--ctx,--ctx-size", a->server.n_ctx, "context window per slot, in tokens")
                ->envname("QWEN3_CTX_SIZE")
                ->capture_default_str(),
            2, INT32_MAX, "(and at most the model's maximum)");
  check_int(cmd->add_option("--queue", a->server.max_queue, "sequences that may wait for a slot before 429")
                ->capture_default_str(),
            0, INT32_MAX);
  check_int(cmd->add_option("--batch", a->server.max_batch_tokens,
                            "most tokens per forward step (prompt chunks + decode)")
                ->capture_default_str(),
            1, INT32_MAX);
  check_int(cmd->add_option("--max-body-kib", a->max_body_kib,
                            "largest request body in KiB, chunked or not (larger: 413)")
                ->capture_default_str(),
            1, INT32_MAX);
  check_int(cmd->add_option("--max-connections", a->server.max_connections,
                            "connections open at once (beyond: 503 at once)")
                ->capture_default_str(),
            1, INT32_MAX);
  check_number_above(
      cmd->add_option("--header-timeout", a->server.header_timeout_s,
                      "seconds a request's whole head may take to arrive (slower clients are cut off)")
          ->capture_default_str(),
      0, false);
  check_number_above(
      cmd->add_option(
             "--keep-alive-timeout", a->server.keep_alive_timeout_s,
             "seconds a kept-alive connection may idle between requests (sent as Keep-Alive: timeout=)")
          ->capture_default_str(),
      0, false);
  cmd->add_option_function<std::string>(
         "--log-format",
         [a](const std::string& f) {
           QWEN3_CHECK(f == "text" || f == "json", "--log-format %s: choose text or json", f.c_str());
           a->server.log_json = f == "json";
         },
         "the per-request log line: text or json (one object per line)")
      ->default_str("text");
  cmd->add_flag("!--no-log-requests", a->server.log_requests,
                "no stderr line per request (health checks and /metrics are never logged)");
  cmd->add_flag(
      "!--no-ollama-api", a->server.ollama_api,
      "no Ollama API (/api/chat, /api/generate, /api/tags, ...) beside the OpenAI and Anthropic ones");
  cmd->add_flag("!--no-webui", a->server.webui, "no chat page at / (the page needs nothing but this server)");
  cmd->add_option(
         "--cors-origin", a->server.cors_origins,
         "let browser apps on ORIGIN call the API (repeatable; * for any): CORS headers, preflights answered")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->type_name("ORIGIN")
      ->check(CLI::Validator(
          [](std::string& o) {
            server::make_cors_policy({o});  // throws naming a malformed origin
            return std::string();
          },
          "ORIGIN"));
  check_number_above(
      cmd->add_option("--drain-timeout", a->server.drain_timeout_s,
                      "on SIGTERM/SIGINT: seconds running requests may finish before they are aborted")
          ->capture_default_str(),
      0, true);
  check_int(
      cmd->add_option("--max-loras", a->server.max_loras,
                      "LoRA adapters kept by name at most (--lora NAME=DIR and those loaded at run time)")
          ->capture_default_str(),
      1, 4096);
  cmd->add_flag("--lora-runtime", a->server.lora_runtime,
                "allow POST /v1/load_lora_adapter and /v1/unload_lora_adapter (vLLM's; adapters by path on "
                "this machine)");
  cmd->callback([a] { run_serve(*a); });
}

}  // namespace qwen3::cli
