#!/usr/bin/env python3
"""MaskBench over qwen3's constraint engine (guidance-ai/jsonschemabench's maskbench runner, same rules).

A schema passes when it compiles, every valid instance is accepted and every invalid one rejected. Instances
are serialized as json.dumps(data, ensure_ascii=False) (", " and ": " separators). Reports the pass rate, the
invalid instances accepted (must be 0), compile errors by keyword, and mask / compile time percentiles.

usage: maskbench.py --bin build/qwen3 -m MODEL [--data ../shared/jsonschemabench/data] [--limit N]
                    [--files F1 F2 ...] [--json OUT] [--min-pass P] [--fail-on-invalid]
"""
import argparse, collections, glob, json, os, subprocess, sys, time


def percentile(xs, q):
    if not xs:
        return 0.0
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(q / 100.0 * (len(xs) - 1)))))
    return xs[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../../shared/jsonschemabench/data"))
    ap.add_argument("--files", nargs="*")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--min-pass", type=float, default=0.0, help="exit 1 below this pass percentage")
    ap.add_argument("--fail-on-invalid", action="store_true", help="exit 1 if any invalid instance is accepted")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    files = a.files if a.files else sorted(glob.glob(os.path.join(a.data, "*.json")))
    if a.limit:
        files = files[: a.limit]
    cases = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            d = json.load(fh)
        tests = [(json.dumps(t["data"], ensure_ascii=False), bool(t["valid"])) for t in d.get("tests", [])]
        cases.append((os.path.basename(f), d["schema"], tests))

    proc = subprocess.Popen([a.bin, "grammar", "-m", a.model, "--jsonl"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
    n_pass = n_compiled = n_invalid_accepted = n_valid_rejected = 0
    errors = collections.Counter()
    mask_us, compile_us = [], []
    failures = []
    slow = []  # (max mask us, schema)
    t0 = time.time()
    for name, schema, tests in cases:
        req = json.dumps({"schema": schema, "tests": [t for t, _ in tests]}, ensure_ascii=False)
        proc.stdin.write(req + "\n")
        proc.stdin.flush()
        out = json.loads(proc.stdout.readline())
        if "error" in out and "compiled" not in out:
            errors["request: " + out["error"][:60]] += 1
            failures.append((name, "request error " + out["error"]))
            continue
        if not out["compiled"]:
            errors[out.get("keyword", "?")] += 1
            failures.append((name, "compile: " + out["error"]))
            continue
        n_compiled += 1
        compile_us.append(out["compile_us"])
        ok = True
        for (text, valid), r in zip(tests, out["results"]):
            mask_us.extend(r["mask_us"])
            if r["mask_us"]:
                slow.append((max(r["mask_us"]), name))
            if r["accepted"] != valid:
                ok = False
                if valid:
                    n_valid_rejected += 1
                    failures.append((name, "valid rejected: " + text[:200]))
                else:
                    n_invalid_accepted += 1
                    failures.append((name, "INVALID ACCEPTED: " + text[:200]))
        n_pass += ok
    proc.stdin.close()
    proc.wait()
    n = len(cases)
    summary = {
        "schemas": n, "passed": n_pass, "pass_pct": round(100.0 * n_pass / max(n, 1), 2),
        "compiled": n_compiled, "invalid_accepted": n_invalid_accepted, "valid_rejected": n_valid_rejected,
        "mask_us": {"n": len(mask_us), "p50": percentile(mask_us, 50), "p99": percentile(mask_us, 99),
                    "p99.9": percentile(mask_us, 99.9), "max": max(mask_us) if mask_us else 0},
        "compile_us": {"p50": percentile(compile_us, 50), "p99": percentile(compile_us, 99)},
        "compile_errors": dict(errors.most_common()), "seconds": round(time.time() - t0, 1),
        "slowest_masks": [{"us": us, "schema": nm} for us, nm in sorted(slow, reverse=True)[:10]],
    }
    print(json.dumps(summary, indent=1))
    if a.verbose:
        for name, why in failures:
            print(f"{name}: {why}", file=sys.stderr)
    else:
        for name, why in failures:
            if "INVALID" in why:
                print(f"{name}: {why}", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"summary": summary, "failures": failures}, fh, indent=1)
    bad = (a.fail_on_invalid and n_invalid_accepted > 0) or summary["pass_pct"] < a.min_pass
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
