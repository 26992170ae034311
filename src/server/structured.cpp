#include "server/structured.h"

#include <algorithm>
#include <functional>

#include "core/json.h"
#include "engine/chat_turn.h"
#include "server/api.h"

namespace qwen3::server {

std::shared_ptr<const constrain::Grammar> GrammarCache::find(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  ++hits_;
  return it->second->second;
}

void GrammarCache::put(const std::string& key, std::shared_ptr<const constrain::Grammar> grammar) {
  std::lock_guard lock(mu_);
  if (capacity_ == 0) return;
  auto it = index_.find(key);
  if (it != index_.end()) {
    it->second->second = std::move(grammar);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(key, std::move(grammar));
  index_[key] = lru_.begin();
  if (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

size_t GrammarCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

uint64_t GrammarCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

namespace {

using Rule = constrain::Builder::Rule;

[[noreturn]] void bad(const std::string& param, const std::string& message, const std::string& code = "") {
  throw ApiError{400, message, "invalid_request_error", param, code};
}

// What the answer (the content after any think block) must match: one source, named by the field it came
// from. kind: "schema" (value: a JSON Schema), "gbnf", "regex" (value: the text), "choice" (value: strings).
struct AnswerSpec {
  std::string param;
  std::string kind;
  ojson value;
};

struct ToolSpec {
  std::string param;  // tools[i].function.parameters
  std::string name;
  ojson schema;  // the arguments' schema: parameters, or {"type":"object"} when the call need not follow it
};

std::optional<AnswerSpec> read_answer(const ojson& b) {
  std::vector<AnswerSpec> found;
  if (const ojson* rf = field(b, "response_format")) {
    if (!rf->is_object() || !rf->contains("type") || !(*rf)["type"].is_string())
      bad("response_format", "'response_format' must be an object with a string 'type'", "invalid_type");
    std::string type = (*rf)["type"];
    if (type == "json_object") {
      // llama.cpp also takes a schema here.
      const ojson* schema = field(*rf, "schema");
      if (schema && !schema->is_object() && !schema->is_boolean())
        bad("response_format.schema", "'response_format.schema' must be a JSON Schema object",
            "invalid_type");
      found.push_back({schema ? "response_format.schema" : "response_format", "schema",
                       schema ? *schema : ojson{{"type", "object"}}});
    } else if (type == "json_schema") {
      const ojson* js = field(*rf, "json_schema");
      if (!js || !js->is_object())
        bad("response_format.json_schema", "'response_format.json_schema' must be an object with a 'schema'",
            "invalid_type");
      const ojson* schema = field(*js, "schema");
      if (schema && !schema->is_object() && !schema->is_boolean())
        bad("response_format.json_schema.schema",
            "'response_format.json_schema.schema' must be a JSON Schema", "invalid_type");
      found.push_back(
          {"response_format.json_schema.schema", "schema", schema ? *schema : ojson{{"type", "object"}}});
    } else if (type != "text") {
      bad("response_format.type",
          "'response_format.type' must be one of \"text\", \"json_object\", \"json_schema\"",
          "invalid_value");
    }
  }
  if (const ojson* s = field(b, "json_schema")) {  // llama.cpp
    if (!s->is_object() && !s->is_boolean())
      bad("json_schema", "'json_schema' must be a JSON Schema", "invalid_type");
    found.push_back({"json_schema", "schema", *s});
  }
  if (const ojson* s = field(b, "guided_json")) {  // vLLM: an object or its JSON text
    ojson schema = *s;
    if (s->is_string()) {
      std::string error;
      if (!try_parse_json(s->get<std::string>(), schema, &error))
        bad("guided_json", "'guided_json' is not valid JSON: " + error);
    }
    if (!schema.is_object() && !schema.is_boolean())
      bad("guided_json", "'guided_json' must be a JSON Schema", "invalid_type");
    found.push_back({"guided_json", "schema", schema});
  }
  for (const char* key : {"grammar", "guided_grammar"}) {
    if (const ojson* g = field(b, key)) {
      if (!g->is_string()) bad(key, strfmt("'%s' must be a GBNF grammar (a string)", key), "invalid_type");
      found.push_back({key, "gbnf", *g});
    }
  }
  if (const ojson* r = field(b, "guided_regex")) {
    if (!r->is_string()) bad("guided_regex", "'guided_regex' must be a string", "invalid_type");
    found.push_back({"guided_regex", "regex", *r});
  }
  if (const ojson* c = field(b, "guided_choice")) {
    if (!c->is_array() || c->empty())
      bad("guided_choice", "'guided_choice' must be a non-empty array of strings", "invalid_type");
    for (auto& x : *c)
      if (!x.is_string())
        bad("guided_choice", "'guided_choice' must be a non-empty array of strings", "invalid_type");
    found.push_back({"guided_choice", "choice", *c});
  }
  if (found.size() > 1)
    bad(found[1].param, strfmt("'%s' and '%s' both constrain the answer: give one", found[0].param.c_str(),
                               found[1].param.c_str()));
  if (found.empty()) return std::nullopt;
  return found[0];
}

// Builds one part, turning the engine's compile error into a 400 that names the field and the keyword.
Rule compile(const std::string& param, const std::function<Rule()>& fn) {
  try {
    return fn();
  } catch (const constrain::CompileError& e) {
    std::string where = e.path.empty() ? "" : strfmt(" at %s", e.path.c_str());
    bad(param,
        strfmt("%s: cannot compile (%s%s): %s", param.c_str(), e.keyword.c_str(), where.c_str(), e.what()),
        "invalid_schema");
  }
}

Rule answer_rule(constrain::Builder& g, const AnswerSpec& a) {
  return compile(a.param, [&] {
    if (a.kind == "schema") return g.json_schema(a.value);
    if (a.kind == "gbnf") return g.gbnf(a.value.get<std::string>());
    if (a.kind == "regex") return g.regex(a.value.get<std::string>());
    std::vector<Rule> choices;
    for (auto& c : a.value) choices.push_back(g.literal(c.get<std::string>()));
    return g.alt(std::move(choices));
  });
}

// One Hermes tool call as Qwen3's template writes it: <tool_call>\n{"name": "NAME", "arguments":
// ARGS}\n</tool_call> (with_open false: the <tool_call> token was already sampled, the grammar starts after
// it).
Rule call_rule(constrain::Builder& g, const std::vector<ToolSpec>& tools, int32_t open, int32_t close,
               bool with_open) {
  std::vector<Rule> calls;
  for (const ToolSpec& t : tools) {
    Rule args = compile(t.param, [&] { return g.json_schema(t.schema); });
    calls.push_back(g.seq({g.literal("{\"name\": " + dump(ojson(t.name)) + ", \"arguments\": "), args}));
  }
  std::vector<Rule> parts;
  if (with_open) parts.push_back(g.token(open));
  parts.push_back(g.literal("\n"));
  parts.push_back(calls.size() == 1 ? calls[0] : g.alt(std::move(calls)));
  parts.push_back(g.literal("}\n"));
  parts.push_back(g.token(close));
  return g.seq(std::move(parts));
}

}  // namespace

void parse_structured_output(const ojson& b, const ServedModel& served, bool chat, bool thinking,
                             ApiRequest& r) {
  ChatRequest& c = r.chat_request;
  GenerationParams& p = c.generation;
  if (const ojson* v = field(b, "thinking_budget")) {
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > INT32_MAX)
      bad("thinking_budget", "'thinking_budget' must be an integer >= 0 (tokens)", "invalid_type");
    p.thinking_budget = static_cast<int>(v->get<int64_t>());
  }
  std::optional<AnswerSpec> answer = read_answer(b);

  // Tools and tool_choice (chat only).
  std::string mode = "auto";  // auto | none | required | named
  std::string named;
  std::vector<ToolSpec> tools;
  bool any_strict = false;
  if (chat) {
    if (const ojson* tc = field(b, "tool_choice")) {
      if (tc->is_string()) {
        mode = tc->get<std::string>();
        if (mode != "none" && mode != "auto" && mode != "required")
          bad("tool_choice",
              "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
              "\"function\": "
              "{\"name\": ...}}",
              "invalid_value");
      } else if (tc->is_object() && tc->value("type", "") == "function" && tc->contains("function") &&
                 (*tc)["function"].is_object() && (*tc)["function"].contains("name") &&
                 (*tc)["function"]["name"].is_string()) {
        mode = "named";
        named = (*tc)["function"]["name"];
      } else {
        bad("tool_choice",
            "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
            "\"function\": "
            "{\"name\": ...}}",
            "invalid_type");
      }
    }
    if (const ojson* t = field(b, "tools")) {
      if (!t->is_array()) bad("tools", "'tools' must be an array", "invalid_type");
      for (size_t i = 0; i < t->size(); ++i) {
        const ojson& tool = (*t)[i];
        if (!tool.is_object() || tool.value("type", "") != "function" || !tool.contains("function") ||
            !tool["function"].is_object() || !tool["function"].contains("name") ||
            !tool["function"]["name"].is_string())
          bad(strfmt("tools[%zu]", i),
              "each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
        const ojson& fn = tool["function"];
        const ojson* params = field(fn, "parameters");
        if (params && !params->is_object() && !params->is_boolean())
          bad(strfmt("tools[%zu].function.parameters", i), "'parameters' must be a JSON Schema object",
              "invalid_type");
        const ojson* strict = field(fn, "strict");
        if (strict && !strict->is_boolean())
          bad(strfmt("tools[%zu].function.strict", i), "'strict' must be a boolean", "invalid_type");
        bool is_strict = strict && strict->get<bool>();
        any_strict |= is_strict;
        // The arguments follow `parameters` when the function is strict or must be called; a call the model
        // chooses to make to a non-strict function is any JSON object (as OpenAI's non-strict tools).
        bool follow = params && (is_strict || mode == "required" || mode == "named");
        tools.push_back({strfmt("tools[%zu].function.parameters", i), fn["name"].get<std::string>(),
                         follow ? *params : ojson{{"type", "object"}}});
      }
      if (!t->empty() && mode != "none") c.tools = *t;
    }
    if ((mode == "required" || mode == "named") && tools.empty())
      bad("tool_choice", strfmt("'tool_choice' is \"%s\" but no tools are given", mode.c_str()));
    if (mode == "named") {
      auto it = std::find_if(tools.begin(), tools.end(), [&](const ToolSpec& t) { return t.name == named; });
      if (it == tools.end())
        bad("tool_choice",
            strfmt("'tool_choice' names the function '%s', which is not among the tools", named.c_str()));
      tools = {*it};
    }
    if (mode == "none") tools.clear();
  } else {
    for (const char* key : {"tools", "tool_choice"})
      if (field(b, key)) bad(key, strfmt("'%s' is for /v1/chat/completions", key));
  }

  // What to build: the key is the whole source, so equal requests share one compiled grammar.
  const bool calls_only = mode == "required" || mode == "named";
  const bool trigger = !calls_only && any_strict && !tools.empty() && !answer;
  const bool calls_or_answer = !calls_only && answer && !tools.empty();
  if (!answer && !calls_only && !trigger) return;
  if (!served.vocab) bad("response_format", "structured output is not available on this server");
  const Tokenizer& tok = *served.tokenizer;
  const int32_t open = tok.token_to_id("<tool_call>").value_or(-1);
  const int32_t close = tok.token_to_id("</tool_call>").value_or(-1);
  if ((calls_only || trigger || calls_or_answer) && (open < 0 || close < 0))
    bad("tool_choice", "this model's tokenizer has no <tool_call> tokens");

  ojson key = {{"mode", calls_only        ? "calls"
                        : trigger         ? "trigger"
                        : calls_or_answer ? "either"
                                          : "answer"},
               {"parallel", r.parallel_tool_calls}};
  if (answer) key["answer"] = {answer->kind, answer->value};
  for (const ToolSpec& t : tools) key["tools"].push_back({t.name, t.schema});
  std::string cache_key = dump(key);
  std::shared_ptr<const constrain::Grammar> grammar =
      served.grammars ? served.grammars->find(cache_key) : nullptr;
  if (!grammar) {
    constrain::Builder g(served.vocab);
    Rule root;
    if (trigger) {
      root = call_rule(g, tools, open, close, false);
    } else {
      std::optional<Rule> calls;
      if (calls_only || calls_or_answer) {
        Rule one = call_rule(g, tools, open, close, true);
        calls = r.parallel_tool_calls ? g.seq({one, g.repeat(g.seq({g.literal("\n"), one}), 0, -1)}) : one;
      }
      if (calls_only)
        root = *calls;
      else if (calls)
        root = g.alt({answer_rule(g, *answer), *calls});
      else
        root = answer_rule(g, *answer);
    }
    try {
      grammar = g.build(root);
    } catch (const constrain::CompileError& e) {  // build() may still find the whole grammar too large
      bad(answer ? answer->param : "tools", strfmt("cannot compile the output constraint: %s", e.what()),
          "invalid_schema");
    }
    if (served.grammars) served.grammars->put(cache_key, grammar);
  }
  p.constraint.grammar = grammar;
  p.constraint.trigger = trigger ? open : -1;
  p.constraint.think_first = chat && thinking;
}

}  // namespace qwen3::server
