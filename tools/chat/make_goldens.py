#!/usr/bin/python3
"""Golden renderings for the chat-template interpreter (tests/data/chat/), made with Debian's python3-jinja2.

The environment is set up as transformers' `_compile_jinja_template` does (transformers/utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols]),
its tojson override (json.dumps with ensure_ascii=False and the indent/separators/sort_keys options), and the
raise_exception and strftime_now globals. Templates are rendered with the variables apply_chat_template passes:
messages, tools, documents=None, add_generation_prompt, the tokenizer's special_tokens_map, then the kwargs
(enable_thinking only when given).

Run from the repository root:  /usr/bin/python3 tools/chat/make_goldens.py
Writes tests/data/chat/template_goldens.jsonl, expr_goldens.jsonl and special_tokens.json.
"""
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import CONVERSATIONS, EXPR_CASES, TOOLS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "chat")


class TemplateError(Exception):
    pass


class AssistantTracker(Extension):
    """transformers' {% generation %} block; it only records offsets for assistant masks, so here the body is
    rendered unchanged, which is all rendering needs."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers overrides jinja's tojson, which would escape HTML characters and sort keys
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def make_env():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def special_tokens_map(config):
    """PreTrainedTokenizerBase.special_tokens_map: the special-token attributes that are set, as strings."""
    out = {}
    for key in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]:
        v = config.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if v is not None:
            out[key] = v
    extra = config.get("additional_special_tokens")
    if extra:
        out["additional_special_tokens"] = [t["content"] if isinstance(t, dict) else t for t in extra]
    return out


def render(env, source, request, specials):
    template = env.from_string(source)
    kwargs = dict(specials)
    if request.get("enable_thinking") is not None:
        kwargs["enable_thinking"] = request["enable_thinking"]
    return template.render(
        messages=request["messages"],
        tools=request.get("tools"),
        documents=None,
        add_generation_prompt=request.get("add_generation_prompt", False),
        **kwargs,
    )


def outcome(fn):
    try:
        return {"rendered": fn()}
    except Exception as e:  # the C++ side must fail too; messages differ, so only the kind is kept
        return {"error": f"{type(e).__name__}: {e}"}


TEMPLATES = ["qwen3", "qwen2.5", "qwq", "qwen3-2507-instruct", "qwen3-2507-thinking"]
VARIANTS = [
    {"add_generation_prompt": True, "enable_thinking": None},
    {"add_generation_prompt": True, "enable_thinking": True},
    {"add_generation_prompt": True, "enable_thinking": False},
    {"add_generation_prompt": False, "enable_thinking": None},
]


def main():
    env = make_env()
    with open(os.path.join(DATA, "tokenizer_config_specials.json"), encoding="utf-8") as f:
        specials = special_tokens_map(json.load(f))
    with open(os.path.join(DATA, "special_tokens.json"), "w", encoding="utf-8") as f:
        json.dump(specials, f, ensure_ascii=False, indent=2)
        f.write("\n")

    n = 0
    with open(os.path.join(DATA, "template_goldens.jsonl"), "w", encoding="utf-8") as out:
        for tname in TEMPLATES:
            with open(os.path.join(DATA, "templates", tname + ".jinja"), encoding="utf-8") as f:
                source = f.read()
            for conv in CONVERSATIONS:
                variants = VARIANTS if tname == "qwen3" else VARIANTS[:1] + VARIANTS[2:]
                if conv.get("no_generation_prompt"):
                    variants = [{"add_generation_prompt": False, "enable_thinking": None}]
                for v in variants:
                    tools = TOOLS[conv["tools"]] if conv.get("tools") else None
                    request = {"messages": conv["messages"], "tools": tools, **v}
                    name = f'{tname}/{conv["name"]}/agp={int(v["add_generation_prompt"])},think={v["enable_thinking"]}'
                    case = {"name": name, "template": tname, "request": request}
                    case.update(outcome(lambda: render(env, source, request, specials)))
                    out.write(json.dumps(case, ensure_ascii=False) + "\n")
                    n += 1
    m = 0
    with open(os.path.join(DATA, "expr_goldens.jsonl"), "w", encoding="utf-8") as out:
        for i, (source, variables) in enumerate(EXPR_CASES):
            case = {"name": f"expr{i:03d}", "source": source, "vars": variables}
            case.update(outcome(lambda: env.from_string(source).render(**variables)))
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
            m += 1
    print(f"jinja2 {jinja2.__version__}: {n} template cases, {m} expression cases")


if __name__ == "__main__":
    main()
