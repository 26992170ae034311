#!/usr/bin/python3
"""For the benchmark only: FP8_DIR's model with the embedding table (tied lm_head) taken from Q8_DIR's q8_0 copy
(U8 blocks, "qwen3.quantization": "q8_0"), so that FP8 and q8_0 runs read the same bytes outside the layers and a
decode comparison measures the layer kernels. Usage: embed_q8.py FP8_DIR Q8_DIR OUT_DIR"""
import importlib.util
import os
import shutil
import sys

spec = importlib.util.spec_from_file_location(
    "fp8_numpy", os.path.join(os.path.dirname(__file__), "..", "..", "tools", "fp8", "fp8_numpy.py"))
fp8 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fp8)
src, q8, out = sys.argv[1:4]
t, meta = fp8.load_dir(src)
tq, metaq = fp8.load_dir(q8)
t["model.embed_tokens.weight"] = tq["model.embed_tokens.weight"]
meta = dict(meta, **{"qwen3.quantization": metaq["qwen3.quantization"]})
shutil.rmtree(out, ignore_errors=True)
shutil.copytree(src, out, ignore=shutil.ignore_patterns("*.safetensors"))
fp8.write_safetensors(os.path.join(out, "model.safetensors"), [(k, *v) for k, v in t.items()], meta)
