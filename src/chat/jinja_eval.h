// Renders a parsed template with a set of top-level variables, as jinja2's Template.render(**vars) would.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"

namespace qwen3::jinja {

using Vars = std::vector<std::pair<std::string, Value>>;

// Throws qwen3::Error naming the template line for runtime errors and unsupported constructs.
TString render(const Body& body, const Vars& vars);

// Walks the tree once after parsing so that unknown filters and tests fail at load time, as jinja2's compiler
// does.
void check_names(const Body& body);

}  // namespace qwen3::jinja
