#!/usr/bin/env python3
"""Writes the seed corpora of the server's fuzz targets (tests/fuzz/corpus/fuzz_http, fuzz_request): a few
well-formed and borderline requests for the fuzzer to mutate. Run from anywhere; rewrites the seed files."""
import hashlib
import json
import os

ROOT = os.path.dirname(os.path.abspath(__file__))


def write(target, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}).encode()
for req in [
    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/models/a%2Fb?q=1 HTTP/1.0\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    % len(body) + body,
    b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n",
    b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n\r\n",
]:
    write("fuzz_http", req)

chat = [
    {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": True,
     "stream_options": {"include_usage": True}},
    {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "a"}]},
                  {"role": "assistant", "content": None,
                   "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                  {"role": "tool", "tool_call_id": "c", "content": "r"}],
     "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
     "n": 2, "logprobs": True, "top_logprobs": 2, "seed": 1, "temperature": 0.5, "top_p": 0.9, "top_k": 5,
     "min_p": 0.1, "presence_penalty": 1, "frequency_penalty": 1, "repetition_penalty": 1.1,
     "logit_bias": {"5": 1}, "stop": ["x", "y"], "chat_template_kwargs": {"enable_thinking": False}},
]
for c in chat:
    write("fuzz_request", b"\x01" + json.dumps(c).encode())
for c in [{"prompt": "hello", "max_tokens": 3, "logprobs": 2, "stream": True}, {"prompt": [1, 2, 3], "n": 2}]:
    write("fuzz_request", b"\x00" + json.dumps(c).encode())
