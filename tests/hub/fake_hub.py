"""A stand-in Hugging Face Hub on 127.0.0.1 for tests/hub/test_pull.py (Python's http.server, threads).

It speaks the part of the Hub protocol that huggingface_hub and `qwen3 pull` use:
  GET  /api/models/{repo}/revision/{rev}   -> {"id", "sha", "siblings": [{"rfilename"}]}
  HEAD/GET /{repo}/resolve/{rev}/{path}    -> small files: 200 with ETag (git blob sha1), X-Repo-Commit;
                                              LFS files: 302 to /cdn/{repo}/{sha256} with X-Linked-Etag,
                                              X-Linked-Size, X-Repo-Commit
  GET  /cdn/{repo}/{sha256}                 -> the bytes, with Range (206)
Errors carry X-Error-Code as the Hub sends them: RepoNotFound, GatedRepo (401 without the right Bearer
token), RevisionNotFound, EntryNotFound. Faults on demand, per repo: "cut" (the CDN closes the connection
half way through the first N answers), "corrupt" (one byte flipped), "slow" (the CDN trickles), and
"renamed" repos answer HEAD with a relative 307 to their new name. Every request is logged for assertions.
"""
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

LFS_SUFFIXES = (".safetensors", ".gguf", ".bin")


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path, data):
    return path.endswith(LFS_SUFFIXES) or len(data) >= 10 * 1024 * 1024


class Repo:
    def __init__(self, files, commit, gated_token=None, cut=0, corrupt=False, slow=0.0, renamed_to=None,
                 cut_path="model.safetensors"):
        self.files = files  # path -> bytes
        self.commit = commit
        self.gated_token = gated_token
        self.cut = cut  # how many CDN answers for cut_path are cut short
        self.cut_sha = hashlib.sha256(files[cut_path]).hexdigest() if cut_path in files else None
        self.corrupt = corrupt
        self.slow = slow  # seconds between 64 KiB pieces
        self.renamed_to = renamed_to

    def etag(self, path):
        data = self.files[path]
        return hashlib.sha256(data).hexdigest() if is_lfs(path, data) else git_blob_sha1(data)


class FakeHub:
    def __init__(self):
        self.repos = {}
        self.blobs = {}  # (repo, sha256) -> bytes
        self.log = []  # (method, path, headers dict)
        self.lock = threading.Lock()
        self.cdn_active = 0
        self.cdn_max_active = 0
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.handle(self, head=True)

            def do_GET(self):
                hub.handle(self, head=False)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A client that hangs up (Ctrl-C, a cut) is part of the tests, not a server failure.
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        # The CDN under another host name (the same server): a token must not follow a redirect there.
        self.cdn_endpoint = "http://localhost:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def add_repo(self, name, repo):
        self.repos[name] = repo
        for path, data in repo.files.items():
            if is_lfs(path, data):
                self.blobs[(name, hashlib.sha256(data).hexdigest())] = data

    def requests(self, prefix=""):
        with self.lock:
            return [r for r in self.log if r[1].startswith(prefix)]

    # -- answers ------------------------------------------------------------------------------------------
    def send(self, h, status, headers=None, body=b"", head=False):
        h.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if not head and body:
            h.wfile.write(body)

    def error(self, h, status, code, message, head):
        body = json.dumps({"error": message}).encode()
        self.send(h, status, {"X-Error-Code": code, "X-Error-Message": message,
                              "Content-Type": "application/json"}, body, head)

    def find_repo(self, parts):
        if len(parts) < 2:
            return None, None
        name = parts[0] + "/" + parts[1]
        return name, self.repos.get(name)

    def authorized(self, h, repo):
        return repo.gated_token is None or h.headers.get("Authorization") == "Bearer " + repo.gated_token

    def handle(self, h, head):
        url = urlparse(h.path)
        with self.lock:
            self.log.append((h.command, url.path, dict(h.headers.items())))
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        if parts[:2] == ["api", "models"]:
            return self.api(h, parts[2:], head)
        if parts[:1] == ["cdn"] and len(parts) == 4:
            return self.cdn(h, parts[1] + "/" + parts[2], parts[3], head)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(h, parts, head)
        self.error(h, 404, "EntryNotFound", "no route", head)

    def api(self, h, parts, head):
        name, repo = self.find_repo(parts)
        if repo is None:
            return self.error(h, 401, "RepoNotFound", "Repository Not Found for url", head)
        if not self.authorized(h, repo):
            return self.error(h, 401, "GatedRepo", "Access to model %s is restricted." % name, head)
        rev = "/".join(parts[3:]) if len(parts) > 3 and parts[2] == "revision" else "main"
        if rev not in ("main", repo.commit):
            return self.error(h, 404, "RevisionNotFound", "Invalid rev id: " + rev, head)
        body = json.dumps({"id": name, "sha": repo.commit,
                           "siblings": [{"rfilename": p} for p in sorted(repo.files)]}).encode()
        self.send(h, 200, {"Content-Type": "application/json"}, body, head)

    def resolve(self, h, parts, head):
        name, repo = self.find_repo(parts)
        if repo is None:
            return self.error(h, 401, "RepoNotFound", "Repository Not Found for url", head)
        if repo.renamed_to:
            location = "/" + repo.renamed_to + "/" + "/".join(parts[2:])
            return self.send(h, 307, {"Location": location}, b"", head)
        if not self.authorized(h, repo):
            return self.error(h, 401, "GatedRepo", "Access to model %s is restricted." % name, head)
        rev, path = parts[3], "/".join(parts[4:])
        if rev not in ("main", repo.commit):
            return self.error(h, 404, "RevisionNotFound", "Invalid rev id: " + rev, head)
        if path not in repo.files:
            return self.error(h, 404, "EntryNotFound", "Entry not found", head)
        data = repo.files[path]
        headers = {"X-Repo-Commit": repo.commit}
        if is_lfs(path, data):
            sha = hashlib.sha256(data).hexdigest()
            headers.update({"X-Linked-Etag": '"%s"' % sha, "X-Linked-Size": str(len(data)),
                            "ETag": '"%s"' % git_blob_sha1(b"pointer " + sha.encode()),
                            "Location": "%s/cdn/%s/%s?sig=test" % (self.cdn_endpoint, name, sha)})
            return self.send(h, 302, headers, b"", head)
        headers["ETag"] = '"%s"' % git_blob_sha1(data)
        self.send(h, 200, headers, data, head)

    def cdn(self, h, name, sha, head):
        if (name, sha) not in self.blobs:
            return self.error(h, 404, "EntryNotFound", "no blob", head)
        data = self.blobs[(name, sha)]
        repo = self.repos[name]
        start = 0
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data) and len(data) > 0:
                return self.send(h, 416, {"Content-Range": "bytes */%d" % len(data)}, b"", head)
        body = data[start:]
        if repo.corrupt and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        status = 206 if start else 200
        headers = {"Content-Length": str(len(body)), "Content-Type": "application/octet-stream"}
        if start:
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if head:
            return
        with self.lock:
            cut = repo.cut > 0 and sha == repo.cut_sha
            if cut:
                repo.cut -= 1
            self.cdn_active += 1
            self.cdn_max_active = max(self.cdn_max_active, self.cdn_active)
        try:
            if cut:  # half of the body, then the connection closes: the client sees a short transfer
                h.wfile.write(body[: len(body) // 2])
                h.wfile.flush()
                h.close_connection = True
                return
            step = 64 * 1024
            for i in range(0, len(body), step):
                h.wfile.write(body[i:i + step])
                if repo.slow:
                    h.wfile.flush()
                    time.sleep(repo.slow)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        finally:
            with self.lock:
                self.cdn_active -= 1
