#!/usr/bin/env python3
"""qwen3 pull and -m ORG/NAME against a stand-in Hub (fake_hub.py) on 127.0.0.1.

The expected cache is built here from the served bytes with hashlib, by huggingface_hub's documented layout
(blobs named by sha256 for LFS files and git blob sha1 otherwise, snapshots/<commit>/<path> as relative
symlinks to ../../blobs/<etag>, refs/main holding the commit without a newline, .locks/<folder>/<etag>.lock),
and compared entry by entry with what qwen3 wrote: every path, every link target, every byte. (huggingface_hub
itself would be the better reference, but Debian 12 does not package it and PyPI is not reachable here.)
Usage: test_pull.py QWEN3_BINARY WORK_DIR
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_hub import FakeHub, Repo, git_blob_sha1, is_lfs  # noqa: E402

QWEN3, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
COMMIT = "0123456789abcdef0123456789abcdef01234567"
passed, failed = 0, 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: %s%s" % (what, ("\n  " + detail.replace("\n", "\n  ")) if detail else ""), flush=True)


def run(args, home, endpoint, extra_env=None, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update({"HF_HOME": home, "HF_ENDPOINT": endpoint, "QWEN3_HUB_RETRIES": "3"})
    env.update(extra_env or {})
    return subprocess.run([QWEN3] + args, capture_output=True, text=True, env=env, timeout=timeout)


def one_error_line(stderr, text):
    """The failure is one line, the last, holding `text` (progress lines may come before it)."""
    lines = stderr.splitlines()
    return bool(lines) and text in lines[-1] and lines[-1].startswith("error: ") and stderr.count("error") == 1


def read(path):
    with open(path, "rb") as f:
        return f.read()


def snapshot_tree(root):
    """{relative path: ("link", target) | ("file", bytes) | ("dir",)} of everything under root."""
    tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if os.path.islink(p):
                tree[os.path.relpath(p, root)] = ("link", os.readlink(p))
            else:
                tree[os.path.relpath(p, root)] = ("dir",)
        for f in filenames:
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, root)
            tree[rel] = ("link", os.readlink(p)) if os.path.islink(p) else ("file", read(p))
    return tree


def expected_tree(repo_name, repo, paths, commit=COMMIT, refs=("main",)):
    folder = "models--" + repo_name.replace("/", "--")
    tree = {".locks": ("dir",), ".locks/" + folder: ("dir",), folder: ("dir",)}
    for d in ("blobs", "refs", "snapshots", "snapshots/" + commit):
        tree[folder + "/" + d] = ("dir",)
    for r in refs:
        tree[folder + "/refs/" + r] = ("file", commit.encode())
    for p in paths:
        data = repo.files[p]
        etag = hashlib.sha256(data).hexdigest() if is_lfs(p, data) else git_blob_sha1(data)
        tree[folder + "/blobs/" + etag] = ("file", data)
        tree[".locks/%s/%s.lock" % (folder, etag)] = ("file", b"")
        parts = p.split("/")
        for i in range(1, len(parts)):
            tree[folder + "/snapshots/%s/%s" % (commit, "/".join(parts[:i]))] = ("dir",)
        tree[folder + "/snapshots/%s/%s" % (commit, p)] = ("link", "../" * (len(parts) + 1) + "blobs/" + etag)
    return tree


def compare_trees(what, got, want):
    diffs = []
    for k in sorted(set(got) | set(want)):
        g, w = got.get(k), want.get(k)
        if g != w:
            show = lambda v: "absent" if v is None else (v[0] if v[0] != "link" else "link -> " + v[1]) + (
                " (%d bytes)" % len(v[1]) if v[0] == "file" else "")
            diffs.append("%s: got %s, want %s" % (k, show(g), show(w)))
    check(not diffs, what + ": the cache as huggingface_hub lays it out", "\n".join(diffs[:20]))


def main():
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    os.makedirs(WORK)
    src = os.path.join(WORK, "src")
    r = subprocess.run([QWEN3, "synth", "--preset", "tiny", "--dtype", "bf16", "--seed", "3", "--out", src],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    gguf = os.path.join(WORK, "tiny-q8_0.gguf")
    r = subprocess.run([QWEN3, "quantize", "-m", src, "--type", "q8_0", "-o", gguf], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    files = {f: read(os.path.join(src, f)) for f in os.listdir(src)}
    files["README.md"] = b"# tiny\nA synthetic model.\n"
    files["extra/notes.txt"] = b"not a file a model needs\n"
    model_files = sorted(f for f in files if f not in ("README.md", "extra/notes.txt"))

    hub = FakeHub()
    tiny = Repo(dict(files), COMMIT)
    hub.add_repo("test-org/tiny", tiny)
    hub.add_repo("test-org/tiny2", Repo(dict(files), COMMIT))
    hub.add_repo("test-org/cut", Repo(dict(files), COMMIT, cut=1))
    hub.add_repo("test-org/cut-twice", Repo(dict(files), COMMIT, cut=2))
    hub.add_repo("test-org/gated", Repo(dict(files), COMMIT, gated_token="hf_good"))
    hub.add_repo("test-org/old-name", Repo(dict(files), COMMIT, renamed_to="test-org/tiny"))
    gguf_files = {"tiny-Q8_0.gguf": read(gguf), "tiny-Q4_0.gguf": b"GGUF not really q4_0",
                  "tiny-F16.gguf": b"GGUF not really f16", "README.md": b"# gguf\n"}
    gguf_repo = Repo(gguf_files, COMMIT)
    hub.add_repo("test-org/tiny-GGUF", gguf_repo)
    slow_files = dict(files)
    hub.add_repo("test-org/slow", Repo(slow_files, COMMIT, slow=0.05))
    ep = hub.endpoint
    folder = "models--test-org--tiny"
    try:
        # 1. A pull: the model's files only, the layout byte for byte, the path on stdout, quiet lines.
        home = os.path.join(WORK, "home1")
        cache = os.path.join(home, "hub")
        r = run(["pull", "test-org/tiny"], home, ep)
        check(r.returncode == 0, "pull test-org/tiny exits 0", r.stderr)
        snap = os.path.join(cache, folder, "snapshots", COMMIT)
        check(r.stdout == snap + "\n", "pull prints the snapshot path", r.stdout)
        check("pull: model.safetensors:" in r.stderr and "\r" not in r.stderr,
              "pull prints a plain line per file off a terminal", r.stderr)
        compare_trees("pull", snapshot_tree(cache), expected_tree("test-org/tiny", tiny, model_files))
        cdn = hub.requests("/cdn/")
        check(cdn and all("Authorization" not in h for _, _, h in cdn), "no token goes to the CDN")
        # A second pull downloads nothing; --include adds a nested file (../../../blobs link).
        n_before = len(hub.requests("/cdn/"))
        r = run(["pull", "test-org/tiny", "--include", "extra/*", "--include", "*.md"], home, ep)
        check(r.returncode == 0, "pull --include exits 0", r.stderr)
        check(len(hub.requests("/cdn/")) == n_before, "a second pull fetches no LFS file again")
        compare_trees("pull --include", snapshot_tree(cache),
                      expected_tree("test-org/tiny", tiny, sorted(files)))
        # --revision by commit: no refs/<commit> file, the same snapshot.
        r = run(["pull", "test-org/tiny", "--revision", COMMIT], home, ep)
        check(r.returncode == 0 and r.stdout == snap + "\n", "pull --revision COMMIT", r.stderr)
        check(sorted(os.listdir(os.path.join(cache, folder, "refs"))) == ["main"], "no ref for a commit")

        # 2. Offline by repo id: no network at all (the endpoint is a closed port), output as from the directory.
        tok_in = '{"text": "Hello, world"}\n'
        want = subprocess.run([QWEN3, "tokenize", "-m", src, "--jsonl"], input=tok_in, capture_output=True,
                              text=True).stdout
        dead = "http://127.0.0.1:9"
        r = subprocess.run([QWEN3, "tokenize", "-m", "test-org/tiny", "--jsonl"], input=tok_in,
                           capture_output=True, text=True,
                           env=dict(os.environ, HF_HOME=home, HF_HUB_OFFLINE="1", HF_ENDPOINT=dead))
        check(r.returncode == 0 and r.stdout == want and want, "offline tokenize -m test-org/tiny", r.stderr)
        gen = ["generate", "-p", "Hi", "-n", "4", "--seed", "1", "--json"]
        text_of = lambda out: json.loads(out)["text"] if out.strip() else None
        want_gen = text_of(subprocess.run([QWEN3] + gen + ["-m", src], capture_output=True, text=True).stdout)
        r = run(gen + ["-m", "test-org/tiny"], home, dead, {"HF_HUB_OFFLINE": "1"})
        check(r.returncode == 0 and text_of(r.stdout) == want_gen, "offline generate -m test-org/tiny", r.stderr)
        r = run(gen + ["-m", "test-org/tiny2"], home, dead, {"HF_HUB_OFFLINE": "1"})
        check(r.returncode == 1 and r.stderr.count("\n") == 1 and "not in the Hugging Face cache" in r.stderr,
              "offline, a repo missing from the cache: one clear line", r.stderr)
        r = run(["pull", "test-org/tiny2"], home, dead, {"HF_HUB_OFFLINE": "1"})
        check(r.returncode == 1 and "HF_HUB_OFFLINE" in r.stderr, "pull offline: nothing to download", r.stderr)
        r = run(["pull", "test-org/tiny"], home, dead, {"HF_HUB_OFFLINE": "1"})
        check(r.returncode == 0 and r.stdout == snap + "\n", "pull offline: the cached snapshot", r.stderr)

        # 3. -m ORG/NAME downloads what is missing, then runs.
        r = run(gen + ["-m", "test-org/tiny2"], home, ep)
        check(r.returncode == 0 and text_of(r.stdout) == want_gen, "generate -m test-org/tiny2 downloads and runs",
              r.stderr)
        r = run(gen + ["-m", "test-org/tiny2"], home, dead)
        check(r.returncode == 0 and text_of(r.stdout) == want_gen, "the second run uses the cache (no network)",
              r.stderr)

        # 4. A cut connection is resumed with Range within one run.
        r = run(["pull", "test-org/cut"], home, ep)
        check(r.returncode == 0, "pull through a cut connection", r.stderr)
        ranges = [h.get("Range") for _, _, h in hub.requests("/cdn/") if h.get("Range")]
        check(any(x.startswith("bytes=") and x != "bytes=0-" for x in ranges), "the retry asks for the rest", str(ranges))
        check("resuming" in r.stderr, "the retry is reported", r.stderr)
        only_cut = lambda tree: {k: v for k, v in tree.items() if "test-org--cut" in k}
        compare_trees("pull after a cut", only_cut(snapshot_tree(cache)),
                      only_cut(expected_tree("test-org/cut", hub.repos["test-org/cut"], model_files)))

        # 5. Cut with no retries left: the run fails, the partial blob stays, the next run resumes from it.
        home5 = os.path.join(WORK, "home5")
        sha = hashlib.sha256(files["model.safetensors"]).hexdigest()
        cut_dir = os.path.join(home5, "hub", "models--test-org--cut-twice")
        r = run(["pull", "test-org/cut-twice"], home5, ep, {"QWEN3_HUB_RETRIES": "0"})
        partial = os.path.join(cut_dir, "blobs", sha + ".incomplete")
        have = os.path.getsize(partial) if os.path.exists(partial) else -1
        check(r.returncode == 1 and one_error_line(r.stderr, "run again to resume"), "a cut with no retries", r.stderr)
        check(0 < have < len(files["model.safetensors"]), "the partial download stays", str(have))
        check(not os.path.lexists(os.path.join(cut_dir, "snapshots", COMMIT, "model.safetensors")),
              "no snapshot file for a partial download")
        n = len(hub.requests("/cdn/"))
        r = run(["pull", "test-org/cut-twice"], home5, ep, {"QWEN3_HUB_RETRIES": "0"})
        new = [h.get("Range") for _, _, h in hub.requests("/cdn/")[n:]]
        check("bytes=%d-" % have in new, "the next run resumes at the partial size", str(new))
        r = run(["pull", "test-org/cut-twice"], home5, ep, {"QWEN3_HUB_RETRIES": "0"})
        check(r.returncode == 0 and read(os.path.join(cut_dir, "snapshots", COMMIT, "model.safetensors")) ==
              files["model.safetensors"], "resumed to the right bytes", r.stderr)
        check(not os.path.exists(partial), "no .incomplete left")

        # 6. A corrupted body is refused: no blob, no partial file, no snapshot file.
        hub.add_repo("test-org/corrupt", Repo(dict(files, **{"model.safetensors": files["model.safetensors"] + b"x"}),
                                              COMMIT, corrupt=True))
        r = run(["pull", "test-org/corrupt"], home5, ep)
        cdir = os.path.join(home5, "hub", "models--test-org--corrupt")
        check(r.returncode == 1 and one_error_line(r.stderr, "sha256 mismatch"), "a corrupted download", r.stderr)
        blobs = os.listdir(os.path.join(cdir, "blobs")) if os.path.isdir(os.path.join(cdir, "blobs")) else []
        bad = r.stderr.split("the Hub says ")[-1].split(",")[0]
        # The refused file leaves nothing; a file stopped beside it keeps its partial download (resumable).
        check(len(bad) == 64 and bad not in blobs and bad + ".incomplete" not in blobs and
              not any(len(b) == 64 for b in blobs), "no LFS blob, nor the refused partial file, kept", str(blobs))
        check(not os.path.lexists(os.path.join(cdir, "snapshots", COMMIT, "model.safetensors")),
              "no snapshot file for a corrupted download")

        # 7. Gated: without a token one clear line; with it, the pull works; 404s.
        r = run(["pull", "test-org/gated"], home5, ep)
        want_line = ("error: test-org/gated is gated: accept its licence at %s/test-org/gated and set HF_TOKEN "
                     "to a token of that account\n" % ep)
        check(r.returncode == 1 and r.stderr == want_line, "gated without a token", r.stderr)
        r = run(["generate", "-m", "test-org/gated", "-p", "hi"], home5, ep)
        check(r.returncode == 1 and r.stderr == want_line, "-m on a gated repo without a token", r.stderr)
        r = run(["pull", "test-org/gated"], home5, ep, {"HF_TOKEN": "hf_wrong"})
        check(r.returncode == 1 and "HF_TOKEN has no access" in r.stderr, "gated with a wrong token", r.stderr)
        n = len(hub.log)
        r = run(["pull", "test-org/gated"], home5, ep, {"HF_TOKEN": "hf_good"})
        check(r.returncode == 0, "gated with HF_TOKEN", r.stderr)
        sent = [(p, h.get("Authorization")) for _, p, h in hub.log[n:]]
        check(all(a == "Bearer hf_good" for p, a in sent if not p.startswith("/cdn/")) and
              all(a is None for p, a in sent if p.startswith("/cdn/")), "Bearer to the Hub, none to the CDN")
        with open(os.path.join(home5, "token"), "w") as f:
            f.write("hf_good\n")
        r = run(["pull", "test-org/gated"], home5, ep)
        check(r.returncode == 0, "the token file $HF_HOME/token", r.stderr)
        r = run(["pull", "test-org/nope"], home5, ep)
        check(r.returncode == 1 and r.stderr.startswith("error: test-org/nope: no such repository on ") and
              r.stderr.count("\n") == 1, "a missing repo", r.stderr)
        r = run(["pull", "test-org/tiny", "--revision", "v9"], home5, ep)
        check(r.returncode == 1 and "no such revision" in r.stderr, "a missing revision", r.stderr)
        r = run(["pull", "not a repo"], home5, ep)
        check(r.returncode == 1 and "not a Hugging Face repo id" in r.stderr, "a malformed repo id", r.stderr)
        r = run(["pull", "test-org/tiny"], home5, "http://127.0.0.1:9")
        check(r.returncode == 1 and "cannot reach" in r.stderr and r.stderr.count("\n") == 1, "no server", r.stderr)

        # 8. A renamed repo: HEAD's relative redirect is followed.
        r = run(["pull", "test-org/old-name"], home5, ep)
        check(r.returncode == 0, "a renamed repo (relative 307)", r.stderr)

        # 9. GGUF repos: the file of the quant, as llama.cpp's -hf picks it; run offline by REPO:QUANT.
        r = run(["pull", "test-org/tiny-GGUF:q8_0"], home5, ep)
        gdir = os.path.join(home5, "hub", "models--test-org--tiny-GGUF")
        check(r.returncode == 0 and r.stdout == os.path.join(gdir, "snapshots", COMMIT, "tiny-Q8_0.gguf") + "\n",
              "pull REPO:q8_0 picks tiny-Q8_0.gguf", r.stdout + r.stderr)
        check(os.listdir(os.path.join(gdir, "snapshots", COMMIT)) == ["tiny-Q8_0.gguf"], "only that file")
        want_g = subprocess.run([QWEN3, "tokenize", "-m", gguf, "--jsonl"], input=tok_in, capture_output=True,
                                text=True).stdout
        r = subprocess.run([QWEN3, "tokenize", "-m", "test-org/tiny-GGUF:Q8_0", "--jsonl"], input=tok_in,
                           capture_output=True, text=True, env=dict(os.environ, HF_HOME=home5, HF_HUB_OFFLINE="1"))
        check(r.returncode == 0 and r.stdout == want_g, "offline tokenize -m REPO:Q8_0", r.stderr)
        r = run(["pull", "test-org/tiny-GGUF:Q5_K_M"], home5, ep)
        check(r.returncode == 1 and "no GGUF file for Q5_K_M" in r.stderr, "an absent quant", r.stderr)
        r = run(["pull", "test-org/tiny-GGUF"], home5, ep)
        check(r.returncode == 0 and r.stdout.strip().endswith("tiny-Q4_0.gguf"), "no quant: Q4 first", r.stdout)

        # 10. Ctrl-C: the pull stops soon with its partial files resumable; several files at once.
        home10 = os.path.join(WORK, "home10")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_HOME=home10, HF_ENDPOINT=ep)
        p = subprocess.Popen([QWEN3, "pull", "test-org/slow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
        sdir = os.path.join(home10, "hub", "models--test-org--slow", "blobs")
        deadline = time.time() + 20
        while time.time() < deadline and not any(
                f.endswith(".incomplete") and os.path.getsize(os.path.join(sdir, f)) > 0
                for f in (os.listdir(sdir) if os.path.isdir(sdir) else [])):
            time.sleep(0.05)
        time.sleep(0.3)
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        check(p.returncode == 1 and "interrupted" in err and time.time() - t0 < 5, "Ctrl-C stops the pull", err)
        partials = [f for f in os.listdir(sdir) if f.endswith(".incomplete")]
        check(len(partials) >= 1, "Ctrl-C leaves the partial files", str(os.listdir(sdir)))
        check(hub.cdn_max_active >= 2, "several files download at once", str(hub.cdn_max_active))
        hub.repos["test-org/slow"].slow = 0
        r = run(["pull", "test-org/slow"], home10, ep)
        check(r.returncode == 0, "the pull after Ctrl-C completes", r.stderr)
        slow_model = [f for f in model_files]
        compare_trees("after Ctrl-C", {k: v for k, v in snapshot_tree(os.path.join(home10, "hub")).items()},
                      expected_tree("test-org/slow", hub.repos["test-org/slow"], slow_model))
        # 11. On a terminal: one redrawn bar with bytes, rate and ETA (through a pseudo-terminal: script(1)).
        hub.add_repo("test-org/bar", Repo({"config.json": b"{}", "model.safetensors": bytes(range(256)) * 8192},
                                          COMMIT, slow=0.05))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_HOME=os.path.join(WORK, "home11"), HF_ENDPOINT=ep)
        r = subprocess.run(["script", "-qec", QWEN3 + " pull test-org/bar", "/dev/null"], capture_output=True,
                           env=env, timeout=60)
        out = r.stdout.decode(errors="replace")
        check(r.returncode == 0 and "\r\x1b[Kpull test-org/bar [" in out and "ETA" in out and "MiB/s" in out,
              "a progress bar on a terminal", out[-400:])
    finally:
        hub.stop()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
