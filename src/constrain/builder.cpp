// Builder: composes grammars from the front ends and pieces, and flattens them into a Grammar (engine.h).
#include <functional>

#include "constrain/engine.h"
#include "constrain/frontends.h"
#include "constrain/json_compiler.h"

namespace qwen3::constrain {

struct Builder::Impl {
  std::shared_ptr<const Vocabulary> vocab;
  Ir ir;
  JsonOptions json;
};

Builder::Builder(std::shared_ptr<const Vocabulary> vocab, Limits limits) : impl_(std::make_unique<Impl>()) {
  impl_->vocab = std::move(vocab);
  impl_->ir.limits = limits;
}
Builder::~Builder() = default;

void Builder::set_flexible_whitespace(bool on) {
  impl_->json.flexible_whitespace = on;
}

Builder::Rule Builder::json_schema(const nlohmann::ordered_json& schema) {
  return compile_json_schema(impl_->ir, schema, impl_->json);
}
Builder::Rule Builder::json_value() {
  return compile_json_value(impl_->ir, impl_->json);
}
Builder::Rule Builder::gbnf(std::string_view text) {
  return compile_gbnf(impl_->ir, text, *impl_->vocab);
}
Builder::Rule Builder::regex(std::string_view pattern) {
  return compile_regex(impl_->ir, pattern, RegexMode::kRaw);
}
Builder::Rule Builder::literal(std::string_view bytes) {
  return impl_->ir.literal(bytes);
}
Builder::Rule Builder::token(int32_t special_id) {
  const Vocabulary& v = *impl_->vocab;
  if (special_id < 0 || special_id >= v.n_vocab)
    throw CompileError("token id " + std::to_string(special_id) + " is outside the vocabulary", "grammar",
                       "");
  if (!v.special[size_t(special_id)]) return impl_->ir.literal(v.bytes[size_t(special_id)]);
  return impl_->ir.seq_rule({Elem{Elem::kSpecial, special_id}});
}
Builder::Rule Builder::seq(std::vector<Rule> parts) {
  std::vector<Elem> e;
  for (Rule r : parts) e.push_back(Ir::ref(check(r)));
  return impl_->ir.seq_rule(std::move(e));
}
Builder::Rule Builder::alt(std::vector<Rule> choices) {
  for (Rule r : choices) check(r);
  return impl_->ir.alt_rule(choices);
}
Builder::Rule Builder::repeat(Rule r, int min, int max) {
  return impl_->ir.repeat(check(r), min, max);
}

Builder::Rule Builder::check(Rule r) const {
  if (r < 0 || size_t(r) >= impl_->ir.rules.size())
    throw CompileError("no such rule " + std::to_string(r), "grammar", "");
  return r;
}

// Nullable rules, then left recursion (a rule reachable from itself through references preceded only by
// nullable elements), which the matcher's expansion could not finish: refused.
static void check_left_recursion(const Ir& ir) {
  size_t n = ir.rules.size();
  std::vector<uint8_t> nullable(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; r++) {
      if (nullable[r]) continue;
      for (auto& alt : ir.rules[r].alts) {
        bool all = true;
        for (auto& e : alt)
          if (e.kind != Elem::kRule || !nullable[size_t(e.id)]) {
            all = false;
            break;
          }
        if (all) {
          nullable[r] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  std::vector<std::vector<int32_t>> left(n);
  for (size_t r = 0; r < n; r++)
    for (auto& alt : ir.rules[r].alts)
      for (auto& e : alt) {
        if (e.kind != Elem::kRule) break;
        left[r].push_back(e.id);
        if (!nullable[size_t(e.id)]) break;
      }
  std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the path, 2 done
  std::vector<std::pair<int32_t, size_t>> stack;
  for (size_t s = 0; s < n; s++) {
    if (color[s]) continue;
    stack.emplace_back(int32_t(s), 0);
    color[s] = 1;
    while (!stack.empty()) {
      auto& [r, k] = stack.back();
      if (k < left[size_t(r)].size()) {
        int32_t t = left[size_t(r)][k++];
        if (color[size_t(t)] == 1)
          throw CompileError(
              "the grammar is left-recursive (a rule can reach itself without consuming input)", "grammar",
              "");
        if (color[size_t(t)] == 0) {
          color[size_t(t)] = 1;
          stack.emplace_back(t, 0);
        }
      } else {
        color[size_t(r)] = 2;
        stack.pop_back();
      }
    }
  }
}

std::shared_ptr<const Grammar> Builder::build(Rule root) {
  check(root);
  auto g = flatten(impl_->ir, root, impl_->vocab);
  // A grammar that matches no text at all would leave the sampler an empty mask: refused.
  if (g->cache.states[size_t(g->initial)].empty())
    throw CompileError("the schema or grammar matches no text at all", "grammar", "");
  return g;
}

std::shared_ptr<const Grammar> flatten(const Ir& ir, int32_t root, std::shared_ptr<const Vocabulary> vocab) {
  check_left_recursion(ir);
  auto g = std::make_shared<Grammar>();
  g->vocab = std::move(vocab);
  g->sets = ir.sets;
  g->root = root;
  // Position 0: the start, [root, end].
  g->elems.push_back(Ir::ref(root));
  g->elems.push_back(Elem{Elem::kEnd, 0});
  // Productive rules (that derive some text): an alternative referring to another rule is kept only when that
  // rule is productive, so every live state can still be completed and a mask is never empty before the end.
  std::vector<uint8_t> productive(ir.rules.size(), 0);
  auto alt_ok = [&](const std::vector<Elem>& alt) {
    for (auto& e : alt)
      if ((e.kind == Elem::kRule && !productive[size_t(e.id)]) ||
          (e.kind == Elem::kBytes && ir.sets[size_t(e.id)].empty()))
        return false;
    return true;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < ir.rules.size(); r++) {
      if (productive[r]) continue;
      for (auto& alt : ir.rules[r].alts)
        if (alt_ok(alt)) {
          productive[r] = 1;
          changed = true;
          break;
        }
    }
  }
  g->rule_alts.resize(ir.rules.size());
  for (size_t r = 0; r < ir.rules.size(); r++) {
    for (auto& alt : ir.rules[r].alts) {
      if (!alt_ok(alt)) continue;
      g->rule_alts[r].push_back(int32_t(g->elems.size()));
      for (auto& e : alt) {
        g->elems.push_back(e);
        if (e.kind == Elem::kSpecial && !g->symbol_of_special.count(e.id)) {
          g->symbol_of_special[e.id] = int32_t(g->special_of_symbol.size());
          g->special_of_symbol.push_back(e.id);
        }
      }
      g->elems.push_back(Elem{Elem::kEnd, 0});
    }
  }
  g->n_symbols = 256 + int32_t(g->special_of_symbol.size());
  // Byte classes: bytes that belong to exactly the same byte sets.
  std::map<std::vector<bool>, uint8_t> classes;
  for (int b = 0; b < 256; b++) {
    std::vector<bool> sig(g->sets.size());
    for (size_t k = 0; k < g->sets.size(); k++) sig[k] = g->sets[k].test(b);
    auto it = classes.find(sig);
    if (it == classes.end()) {
      it = classes.emplace(sig, uint8_t(g->class_rep.size())).first;
      g->class_rep.push_back(uint8_t(b));
    }
    g->class_of[size_t(b)] = it->second;
  }
  g->n_classes = int32_t(g->class_rep.size());
  g->n_cols = g->n_classes + int32_t(g->special_of_symbol.size());
  std::lock_guard<std::mutex> lock(g->mu);
  g->cache.node_pos.push_back(-1);  // node 0: the empty stack
  g->cache.node_parent.push_back(-1);
  std::vector<int32_t> init;
  g->expand(0, 0, init);
  g->initial = g->intern_state(init);
  if (g->initial == kDead) {  // a grammar that matches nothing: an empty state with no transitions
    std::vector<int32_t> none;
    g->cache.states.push_back(none);
    g->cache.rows.resize(g->cache.rows.size() + size_t(g->n_cols), kDead);
    g->cache.accepting.push_back(0);
    g->cache.masks.emplace_back();
    g->initial = int32_t(g->cache.states.size() - 1);
  }
  return g;
}

}  // namespace qwen3::constrain

namespace qwen3::constrain {

bool pattern_matches(std::string_view pattern, std::string_view text) {
  Ir ir;
  int32_t r = compile_regex(ir, pattern, RegexMode::kJsonString, nullptr, "pattern", "");
  static const std::shared_ptr<const Vocabulary> empty = make_vocabulary(std::vector<std::string>{}, {}, {});
  Matcher m(flatten(ir, r, empty));
  std::string quoted = py_json_string(text);
  return m.advance_bytes(std::string_view(quoted).substr(1, quoted.size() - 2)) && m.can_end();
}

}  // namespace qwen3::constrain
