#!/usr/bin/python3
"""Writes the prompts of the reference tests: deterministic token-id sequences of several lengths (one of at
least 300 tokens), in the eval request format. Usage: make_prompts.py N_PREDICT > prompts.jsonl"""
import json
import random
import sys

n_predict = int(sys.argv[1]) if len(sys.argv) > 1 else 32
rng = random.Random(1234)
# A chat-shaped prefix (<|im_start|>user\n) then ids drawn from the ordinary vocabulary.
for length in (7, 61, 320):
    ids = [151644, 872, 198] + [rng.randrange(0, 151643) for _ in range(length - 3)]
    print(json.dumps({"ids": ids, "n_predict": n_predict, "logits": True}))
