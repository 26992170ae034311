#!/usr/bin/python3
"""The blocks of a GGUF file `qwen3 quantize` wrote from an f32 model, against ggml's own reference quantisers
(quantize_row_<type>_ref of llama.cpp's libggml-base.so, from node-llama-cpp's prebuilt binaries: run
`npm ci --ignore-scripts --omit=optional` here first) on the same f32 values: every quantised tensor of the
file must have the same bytes. Not part of the test suite (it needs the llama.cpp binaries); the tests compare
the files with an independent NumPy decoder instead (tests/quant/test_kquants.py).

Usage: ggml_quant_check.py MODEL_F32_DIR FILE.gguf [FILE.gguf ...]
"""
import ctypes
import glob
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "reference"))
import kquants  # noqa: E402
import qwen3_ref  # noqa: E402

REF = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K"}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    libs = glob.glob(os.path.join(HERE, "node_modules", "@node-llama-cpp", "*", "bins", "*", "libggml-base.so"))
    if not libs:
        sys.exit("no libggml-base.so under %s/node_modules (npm ci --ignore-scripts --omit=optional)" % HERE)
    ggml = ctypes.CDLL(libs[0])
    original = qwen3_ref.load_weights(sys.argv[1])
    bad = 0
    for path in sys.argv[2:]:
        _, tensors = kquants.read_gguf(path)
        counts = {}
        for name, shape, tname, raw, _ in tensors:
            if tname not in REF:
                continue
            x = np.ascontiguousarray(original[kquants.hf_name(name)], np.float32)
            per, size = kquants.BLOCK[tname]
            want = np.zeros(x.size // per * size, np.uint8)
            getattr(ggml, "quantize_row_%s_ref" % tname)(x.ctypes.data_as(ctypes.c_void_p),
                                                         want.ctypes.data_as(ctypes.c_void_p),
                                                         ctypes.c_int64(x.size))
            got = np.frombuffer(raw, np.uint8)
            same = got.size == want.size and np.array_equal(got, want)
            counts[tname] = counts.get(tname, 0) + 1
            if not same:
                bad += 1
                n_diff = int(np.count_nonzero(got != want)) if got.size == want.size else -1
                print("%s: %s (%s) differs from ggml's quantize_row_%s_ref in %d bytes" %
                      (os.path.basename(path), name, tname, tname, n_diff))
        print("%s: %s" % (os.path.basename(path), ", ".join("%d %s" % (n, t) for t, n in sorted(counts.items()))))
    print("all the same bytes as ggml's" if not bad else "%d tensors differ" % bad)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
