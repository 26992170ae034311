#!/usr/bin/env python3
"""Regexes through `qwen3 grammar` against node's RegExp (the independent engine): a whole-match regex
(`{"regex": p}`) accepts a text iff new RegExp("^(?:" + p + ")$").test(text); a JSON Schema `pattern`
({"type": "string", "pattern": p}) accepts a string iff new RegExp(p).test(s) (searched, as JSON Schema does).

usage: regex_cases.py --bin QWEN3 -m MODEL_OR_TOKENIZER_DIR --node NODE
"""
import argparse, json, subprocess, sys

PATTERNS = [
    ("[a-z]+[0-9]{2,3}", ["abc12", "abc1234", "a99", "12", "ABC12", "ab1"]),
    ("(ab|cd)*e?", ["", "ab", "abcd", "abe", "e", "ace", "abab e"]),
    ("\\d{3}-\\d{4}", ["555-1234", "55-1234", "555-12345", "５５５-1234"]),
    ("[^aeiou\\s]+", ["bcd", "bad", "xyz!", "b c", "ñ"]),
    ("\\w+@\\w+\\.(com|org)", ["me@x.com", "me@x.net", "@x.com", "a_b@c1.org"]),
    ("colou?r", ["color", "colour", "colouur", "Color"]),
    ("a{0}b{1,}c{2}", ["bcc", "abcc", "bbbcc", "bc"]),
    ("[\\u00e0-\\u00ff]+|x", ["àé", "x", "xx", "a"]),
    (".+", ["a", "日本", "\n", "a\nb", ""]),
    ("\\x41\\u0042[\\-.]", ["AB-", "AB.", "AB,"]),
    ("(?:[0-9a-f]{2}:){2}[0-9a-f]{2}", ["0a:1b:2c", "0a:1b", "0A:1b:2c"]),
    ("\\s*\\S+\\s*", [" a ", "a", "  ", "a b"]),
    ("[.*+?]{2}", ["..", "*+", "a.", "???"]),
    ("(?<year>\\d{4})-(\\d{2})", ["2024-01", "24-01"]),
    ("[a\\]b]+", ["a]b", "]", "c"]),
]
SEARCH = [
    ("^a.*z$", ["abcz", "az", "abc", "xaz", "a\nz"]),
    ("[0-9]", ["a1b", "abc", "", "x9"]),
    ("^(foo|bar)", ["foobar", "bazfoo", "bar"]),
    ("baz$", ["foobaz", "bazfoo"]),
    ("\"q\"", ["say \"q\"", "q"]),
    ("^[^\\\\]*$", ["plain", "back\\slash"]),
    ("^\\t?x$", ["\tx", "x", " x"]),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--node", default="node")
    a = ap.parse_args()
    js = ("const c=JSON.parse(require('fs').readFileSync(0,'utf8'));"
          "console.log(JSON.stringify(c.map(([p,full,ts])=>ts.map(t=>(full?new RegExp('^(?:'+p+')$'):new RegExp(p)).test(t)))));")
    cases = [(p, True, ts) for p, ts in PATTERNS] + [(p, False, ts) for p, ts in SEARCH]
    oracle = json.loads(subprocess.run([a.node, "-e", js], input=json.dumps(cases), capture_output=True, text=True,
                                       check=True).stdout)
    lines = []
    for p, full, ts in cases:
        if full:
            lines.append(json.dumps({"regex": p, "tests": ts}, ensure_ascii=False))
        else:
            lines.append(json.dumps({"schema": {"type": "string", "pattern": p},
                                     "tests": [json.dumps(t, ensure_ascii=False) for t in ts]}, ensure_ascii=False))
    out = subprocess.run([a.bin, "grammar", "-m", a.model, "--jsonl"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, encoding="utf-8")
    answers = [json.loads(l) for l in out.stdout.splitlines()]
    if out.returncode != 0 or len(answers) != len(cases):
        print(out.stderr, file=sys.stderr)
        sys.exit("qwen3 grammar failed")
    failures = n = 0
    for (p, full, ts), want, got in zip(cases, oracle, answers):
        if not got.get("compiled"):
            print(f"FAIL compile /{p}/: {got.get('error')}")
            failures += 1
            continue
        for t, w, r in zip(ts, want, got["results"]):
            n += 1
            if w != r["accepted"]:
                print(f"FAIL /{p}/ ({'whole' if full else 'search'}) on {t!r}: node {w}, qwen3 {r['accepted']}")
                failures += 1
    print(f"{len(cases)} patterns, {n} texts, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
