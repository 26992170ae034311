#!/usr/bin/env python3
"""JSON Schema keywords through `qwen3 grammar`, each instance labelled by python3-jsonschema (the independent
validator). An instance the validator rejects must be rejected (soundness, always). One it accepts must be
accepted, except where a case is marked "subset" (the engine's documented subset: docs/STRUCTURED.md).
Instances are serialized as json.dumps(ensure_ascii=False) and also compactly (separators "," ":").

usage: schema_cases.py --bin QWEN3 -m MODEL_OR_TOKENIZER_DIR
"""
import argparse, json, subprocess, sys

import jsonschema

S = "string"
CASES = [
    # (schema, [instances], subset-instances)
    ({"type": "integer"}, [0, -7, 12345678901234567890, 1.5, "1", None, True], []),
    ({"type": "number"}, [0, -0.5, 1e-05, 2.5e+20, 3, "x", [1]], []),
    ({"type": ["string", "null"]}, ["a", None, 1, False], []),
    ({"type": "boolean"}, [True, False, 0, "true"], []),
    ({"type": "integer", "minimum": -3, "maximum": 120}, [-4, -3, 0, 9, 99, 100, 120, 121, 1000, -30], []),
    ({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}, [0, 1, 9, 10, 5], []),
    ({"type": "integer", "minimum": 1.5}, [1, 2, 3], []),
    ({"type": "number", "minimum": 0, "maximum": 1}, [0, 0.0, 1, 1.0, 1.5, -0.1, 0.999, 2], []),
    ({"type": "number", "exclusiveMinimum": -2, "maximum": 3}, [-2, -2.0, -1.99, 0, 3, 3.0, 3.01, 2.5], []),
    ({"type": "number", "exclusiveMaximum": 0}, [0, -0.0, -1, -0.001, 0.5], []),
    ({"type": "integer", "minimum": 5, "exclusiveMinimum": True, "$schema": "http://json-schema.org/draft-04/schema#"},
     [5, 6], []),
    ({"type": S, "minLength": 2, "maxLength": 4}, ["", "a", "ab", "abcd", "abcde", "é\u00e9", "日本語", "\"\\"], []),
    ({"type": S, "pattern": "^[A-Z]{2}-\\d+$"}, ["AB-12", "ab-12", "AB-", "ABC-1", "XY-0"], []),
    ({"type": S, "pattern": "b+c"}, ["abbcd", "bc", "ac", "", "xbcx"], []),
    ({"type": S, "pattern": "^(cat|dog)s?$"}, ["cat", "dogs", "cats!", "bird"], []),
    ({"type": S, "format": "date"}, ["2024-02-29", "2023-02-29", "2023-13-01", "2023-04-31", "1900-02-29",
                                    "2000-02-29", "2023-4-1"], []),
    ({"type": S, "format": "ipv4"}, ["192.168.0.1", "256.1.1.1", "1.2.3", "01.2.3.4", "0.0.0.0"], []),
    ({"type": S, "format": "ipv6"}, ["::1", "2001:db8::1", "1:2:3:4:5:6:7:8", "1::2::3", "12345::", ":"], []),
    ({"type": S, "format": "email"}, ["a@b.co", "first.last@example.org", "no-at-sign"], []),
    ({"type": S, "enum": ["red", "green", "say \"hi\""]}, ["red", "blue", "say \"hi\"", "Red"], []),
    ({"enum": [1, "1", None, [1, 2], {"a": True}]}, [1, 1.0, "1", None, [1, 2], [2, 1], {"a": True}, {"a": False}], []),  # not {"a": 1}: jsonschema 4.10 takes True == 1 there
    ({"const": {"x": [1, "y"]}}, [{"x": [1, "y"]}, {"x": [1]}, {"x": [1, "y"], "z": 0}], []),
    ({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": S}}, "required": ["a"]},
     [{"a": 1}, {"a": 1, "b": "x"}, {"b": "x"}, {"a": "1"}, {"a": 1, "c": [1, {"d": None}]}, {}, {"a": 1, "b": 2}],
     [{"b": "x", "a": 1}]),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False},
     [{}, {"a": 1}, {"a": 1, "b": 2}, {"b": 2}], []),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "boolean"}},
     [{"a": 1, "x": True}, {"a": 1, "x": 1}, {"x": False, "y": True}, {"ab": True}], []),
    ({"type": "object", "patternProperties": {"^x-[a-z]+$": {"type": "integer"}}, "additionalProperties": False},
     [{"x-ab": 1}, {"x-ab": "1"}, {"y": 1}, {"x-": 1}, {}], []),
    ({"type": "object", "minProperties": 1, "maxProperties": 2, "properties": {"a": {}, "b": {}, "c": {}},
      "additionalProperties": False}, [{}, {"a": 1}, {"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3}], []),
    ({"type": "object", "required": ["k"]}, [{"k": 1}, {}, {"j": 1}], []),
    ({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
     [[], [1], [1, 2, 3], [1, 2, 3, 4], ["a"], [1, "a"]], []),
    ({"type": "array", "prefixItems": [{"type": S}, {"type": "integer"}], "items": False},
     [["a", 1], ["a"], [], ["a", 1, 2], [1, "a"]], []),
    ({"type": "array", "items": [{"type": S}], "additionalItems": {"type": "boolean"},
      "$schema": "http://json-schema.org/draft-07/schema#"}, [["a", True, False], ["a", 1], [True]], []),
    ({"anyOf": [{"type": S, "maxLength": 1}, {"type": "integer", "minimum": 10}]}, ["a", "ab", 10, 9, None], []),
    ({"oneOf": [{"type": S}, {"type": "array", "items": {"type": S}}]}, ["a", ["a"], [1], 1], []),
    ({"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                {"properties": {"b": {"type": S}}, "required": ["b"]}]},
     [{"a": 1, "b": "x"}, {"a": 1}, {"b": "x"}, {"a": "1", "b": "x"}], []),
    ({"$defs": {"pos": {"type": "integer", "minimum": 1}}, "type": "array", "items": {"$ref": "#/$defs/pos"}},
     [[1, 2], [0], []], []),
    ({"definitions": {"t": {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"$ref": "#/definitions/t"}},
                            "required": ["v"], "additionalProperties": False}}, "$ref": "#/definitions/t"},
     [{"v": 1}, {"v": 1, "next": {"v": 2, "next": {"v": 3}}}, {"v": 1, "next": {}}, {"next": {"v": 1}}], []),
    ({"type": "object", "properties": {"name": {"type": S, "title": "N", "description": "d", "examples": ["x"],
                                                "default": "y", "$comment": "c"}}}, [{"name": "z"}, {"name": 1}], []),
    (True, [1, "a", None, {"a": [1]}], []),
    ({"oneOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
                 "additionalProperties": False},
                {"type": "object", "properties": {"b": {}}, "additionalProperties": False}]},
     [{"a": 1}, {"b": 2}, {}, {"a": 1, "b": 2}, {"a": "x"}], []),
    ({"type": S, "format": "semver"}, ["1.2.3", "anything"], []),  # not a format JSON Schema defines: annotation
    ({"oneOf": [{"type": "object", "properties": {"kind": {"const": "a"}, "x": {"type": "integer"}},
                 "required": ["kind"]},
                {"type": "object", "properties": {"kind": {"const": "b"}, "y": {"type": S}}, "required": ["kind"]}]},
     [{"kind": "a", "x": 1}, {"kind": "b", "y": "s"}, {"kind": "c"}, {"kind": "a", "x": "1"}], []),
    ({"type": "object", "properties": {"id": {"type": S, "format": "uuid"}, "at": {"type": S, "format": "date-time"}},
      "required": ["id"]},
     [{"id": "123e4567-e89b-12d3-a456-426614174000"}, {"id": "123e4567-e89b-12d3-a456-42661417400"},
      {"id": "123e4567-e89b-12d3-a456-426614174000", "at": "2024-05-06T07:08:09Z"}], []),
    ({"type": "null"}, [None, 0, "null"], []),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("-m", "--model", required=True)
    a = ap.parse_args()
    lines, expect = [], []
    for schema, instances, subset in CASES:
        cls = jsonschema.validators.validator_for(schema if isinstance(schema, dict) else {}, jsonschema.Draft202012Validator)
        v = cls(schema, format_checker=cls.FORMAT_CHECKER)
        tests, labels = [], []
        for x in instances + subset:
            valid = v.is_valid(x)
            for text in (json.dumps(x, ensure_ascii=False), json.dumps(x, ensure_ascii=False, separators=(",", ":"))):
                tests.append(text)
                labels.append((valid, any(json.dumps(x) == json.dumps(y) for y in subset)))
        lines.append(json.dumps({"schema": schema, "tests": tests}, ensure_ascii=False))
        expect.append((schema, tests, labels))
    p = subprocess.run([a.bin, "grammar", "-m", a.model, "--jsonl"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, encoding="utf-8")
    outs = [json.loads(l) for l in p.stdout.splitlines()]
    if p.returncode != 0 or len(outs) != len(lines):
        print(p.stderr, file=sys.stderr)
        sys.exit(f"qwen3 grammar failed (exit {p.returncode}, {len(outs)} of {len(lines)} answers)")
    failures = 0
    n_checked = 0
    for (schema, tests, labels), out in zip(expect, outs):
        if not out.get("compiled"):
            print(f"FAIL compile {json.dumps(schema)}: {out.get('error')}")
            failures += 1
            continue
        for text, (valid, is_subset), r in zip(tests, labels, out["results"]):
            n_checked += 1
            if not valid and r["accepted"]:
                print(f"FAIL invalid instance accepted: {json.dumps(schema)} {text}")
                failures += 1
            elif valid and not r["accepted"] and not is_subset:
                print(f"FAIL valid instance rejected: {json.dumps(schema)} {text}")
                failures += 1
            elif valid and r["accepted"] and is_subset:
                print(f"note: subset instance accepted: {text}")
    print(f"{len(CASES)} schemas, {n_checked} instances, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
