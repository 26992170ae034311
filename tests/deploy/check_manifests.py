#!/usr/bin/env python3
"""A structural check of deploy/kubernetes/*.yaml, offline (CTest: deploy_manifests).

Not kubeconform and not an API server: neither the OpenAPI schemas of Kubernetes nor a cluster are reachable
here. It loads every manifest (Debian's python3-yaml) and checks what an API server would refuse for these kinds
(apiVersion/kind pairs it serves, metadata.name and label syntax, string-only ConfigMap data and annotations,
container names, images and ports, probe ports, selectors that match the Pod template, quantities), and what
would make the deployment wrong although accepted: probe paths that are not routes of `qwen3 serve` (read from
src/server/server.cpp), a grace period shorter than preStop + --drain-timeout, a Service whose targetPort is no
container port, an HPA metric the server does not export (src/server/metrics.cpp), references to a ConfigMap,
claim, Deployment or Service that is not among the manifests, serve flags that `qwen3 serve --help` does not list.

  check_manifests.py [--qwen3 BIN] [--self-test] DIR

--self-test also breaks copies of the manifests in known ways and requires each to be reported.
"""
import copy
import os
import re
import shlex
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

API = {  # kind -> apiVersions a current API server serves for it
    "ConfigMap": {"v1"},
    "PersistentVolumeClaim": {"v1"},
    "Service": {"v1"},
    "Deployment": {"apps/v1"},
    "HorizontalPodAutoscaler": {"autoscaling/v2"},
    "Ingress": {"networking.k8s.io/v1"},
    "Kustomization": {"kustomize.config.k8s.io/v1beta1"},
}
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_KEY_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # IANA_SVC_NAME: <= 15, a letter, no "--"
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def server_routes():
    """(method, path) of every route `qwen3 serve` registers."""
    with open(os.path.join(ROOT, "src/server/server.cpp"), encoding="utf-8") as f:
        routes = set(re.findall(r'svr\.route\(\s*"([A-Z]+)",\s*"([^"]+)"', f.read()))
    if not routes:
        raise SystemExit("check_manifests: found no svr.route(...) in src/server/server.cpp (did its layout change?)")
    return routes


def server_metrics():
    with open(os.path.join(ROOT, "src/server/metrics.cpp"), encoding="utf-8") as f:
        return set(re.findall(r'"(qwen3_[a-z_]+)"', f.read()))


def serve_flags(qwen3):
    out = subprocess.run([qwen3, "serve", "--help"], capture_output=True, text=True, timeout=30, check=False)
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][-A-Za-z0-9]*)", out.stdout))


class Checker:
    def __init__(self, docs, qwen3=None):
        self.docs = docs  # [(file, doc)]
        self.errors = []
        self.routes = server_routes()
        self.metrics = server_metrics()
        self.flags = serve_flags(qwen3) if qwen3 else None

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def of(self, kind):
        return [(f, d) for f, d in self.docs if d.get("kind") == kind]

    def names(self, kind):
        return {d["metadata"].get("name") for _, d in self.of(kind) if isinstance(d.get("metadata"), dict)}

    # --- generic -----------------------------------------------------------------------------------------------
    def common(self, f, d):
        kind, api = d.get("kind"), d.get("apiVersion")
        if kind not in API:
            return self.err(f, f"kind {kind!r} is not one this check knows")
        if api not in API[kind]:
            self.err(f, f"{kind} apiVersion {api!r}: served are {sorted(API[kind])}")
        if kind == "Kustomization":
            return
        md = d.get("metadata")
        if not isinstance(md, dict) or not isinstance(md.get("name"), str):
            return self.err(f, f"{kind}: metadata.name is required")
        name = md["name"]
        if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            self.err(f, f"{kind} name {name!r} is not a DNS-1123 subdomain")
        if kind in ("Service", "Deployment") and (len(name) > 63 or not DNS1123_LABEL.match(name)):
            self.err(f, f"{kind} name {name!r} is not a DNS-1123 label")
        self.labels(f"{f} {kind} metadata.labels", md.get("labels"))
        self.annotations(f"{f} {kind} metadata.annotations", md.get("annotations"))

    def labels(self, where, labels):
        if labels is None:
            return
        if not isinstance(labels, dict):
            return self.err(where, "must be a map")
        for k, v in labels.items():
            name = str(k).split("/")[-1]
            if len(name) > 63 or not LABEL_KEY_NAME.match(name):
                self.err(where, f"label key {k!r} is invalid")
            if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
                self.err(where, f"label {k}: value {v!r} is not a valid label value (a string)")

    def annotations(self, where, ann):
        if ann is None:
            return
        if not isinstance(ann, dict):
            return self.err(where, "must be a map")
        for k, v in ann.items():
            if not isinstance(v, str):
                self.err(where, f"annotation {k}: {v!r} must be a string (quote it)")

    # --- kinds -------------------------------------------------------------------------------------------------
    def configmap(self, f, d):
        data = d.get("data", {})
        if not isinstance(data, dict):
            return self.err(f, "ConfigMap data must be a map")
        for k, v in data.items():
            if not CONFIGMAP_KEY.match(str(k)):
                self.err(f, f"ConfigMap key {k!r} is invalid")
            if not isinstance(v, str):
                self.err(f, f"ConfigMap data.{k}: {v!r} must be a string (quote it)")

    def serve_flags_of(self):
        """The ConfigMap flags as a list (QWEN3_SERVE_FLAGS), and the drain timeout they set (default 30)."""
        flags = []
        for _, cm in self.of("ConfigMap"):
            v = (cm.get("data") or {}).get("QWEN3_SERVE_FLAGS")
            if isinstance(v, str):
                flags += shlex.split(v)
        drain = 30.0
        for i, a in enumerate(flags):
            if a == "--drain-timeout" and i + 1 < len(flags):
                drain = float(flags[i + 1])
            elif a.startswith("--drain-timeout="):
                drain = float(a.split("=", 1)[1])
        return flags, drain

    def deployment(self, f, d):
        spec = d.get("spec") or {}
        where = f"{f} Deployment {d['metadata']['name']}"
        tmpl = spec.get("template") or {}
        tlabels = (tmpl.get("metadata") or {}).get("labels") or {}
        self.labels(f"{where} template labels", tlabels)
        self.annotations(f"{where} template annotations", (tmpl.get("metadata") or {}).get("annotations"))
        sel = (spec.get("selector") or {}).get("matchLabels")
        if not sel:
            self.err(where, "spec.selector.matchLabels is required (apps/v1)")
        elif any(tlabels.get(k) != v for k, v in sel.items()):
            self.err(where, f"selector {sel} does not match the template's labels {tlabels}")
        if not isinstance(spec.get("replicas", 1), int) or spec.get("replicas", 1) < 0:
            self.err(where, "spec.replicas must be a non-negative integer")
        pod = tmpl.get("spec") or {}
        containers = pod.get("containers") or []
        if not containers:
            return self.err(where, "the Pod template needs at least one container")
        volumes = {v.get("name"): v for v in pod.get("volumes") or []}
        for v in volumes.values():
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim is not None and claim not in self.names("PersistentVolumeClaim"):
                self.err(where, f"volume {v.get('name')}: claim {claim!r} is not among the manifests")
        # Service links: Kubernetes defines NAME_SERVICE_HOST, NAME_PORT=tcp://... for every Service in the
        # namespace; for a Service named qwen3* they land in qwen3's own QWEN3_* variables.
        for svc in self.names("Service"):
            if str(svc).upper().replace("-", "_").startswith("QWEN3") and pod.get("enableServiceLinks", True):
                self.err(where, f"Service {svc!r} would define QWEN3_* variables in the Pods (QWEN3_PORT=tcp://...): "
                                "set enableServiceLinks: false")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        _, drain = self.serve_flags_of()
        for c in containers:
            self.container(where, c, volumes, grace, drain, tmpl)

    def container(self, where, c, volumes, grace, drain, tmpl):
        name = c.get("name")
        where = f"{where} container {name}"
        if not isinstance(name, str) or not DNS1123_LABEL.match(name):
            self.err(where, "name must be a DNS-1123 label")
        if not isinstance(c.get("image"), str) or not c["image"]:
            self.err(where, "image is required")
        ports = {}
        for p in c.get("ports") or []:
            cp = p.get("containerPort")
            if not isinstance(cp, int) or not 1 <= cp <= 65535:
                self.err(where, f"containerPort {cp!r} must be an integer in 1..65535")
            pname = p.get("name")
            if pname is not None:
                if len(pname) > 15 or not PORT_NAME.match(pname) or "--" in pname or not re.search("[a-z]", pname):
                    self.err(where, f"port name {pname!r} is not an IANA service name")
                ports[pname] = cp
            if p.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
                self.err(where, f"protocol {p.get('protocol')!r}")
        if not ports:
            self.err(where, "no named container port (the probes and the Service refer to it)")
        # The command line: the port it listens on, and its flags are flags of `qwen3 serve`.
        cmd = " ".join(str(x) for x in (c.get("command") or []) + (c.get("args") or []))
        m = re.search(r"--port[ =](\d+)", cmd)
        if not m:
            self.err(where, "the command sets no --port")
        elif int(m.group(1)) not in ports.values():
            self.err(where, f"the server listens on {m.group(1)}, no containerPort")
        if "0.0.0.0" not in cmd and "--host" not in cmd:
            self.err(where, "the server must listen on --host 0.0.0.0 to be reachable from outside the Pod")
        for ef in c.get("envFrom") or []:
            ref = (ef.get("configMapRef") or {}).get("name")
            if ref is not None and ref not in self.names("ConfigMap"):
                self.err(where, f"envFrom ConfigMap {ref!r} is not among the manifests")
        if self.flags is not None:
            flags, _ = self.serve_flags_of()
            for a in flags + re.findall(r"(?<![\w$-])(--?[A-Za-z][-A-Za-z0-9]*)", cmd.split("serve", 1)[-1]):
                if a.startswith("-") and a.split("=")[0] not in self.flags:
                    self.err(where, f"`qwen3 serve` has no flag {a}")
        # Probes: the routes the server answers, on a port the container has.
        get_routes = {p for m_, p in self.routes if m_ == "GET"}
        want = {"readinessProbe": "/health/ready", "livenessProbe": "/health", "startupProbe": None}
        for probe, path in want.items():
            pr = c.get(probe)
            if pr is None:
                if probe != "startupProbe":
                    self.err(where, f"{probe} is required")
                continue
            hg = pr.get("httpGet") or {}
            if hg.get("path") not in get_routes:
                self.err(where, f"{probe} path {hg.get('path')!r} is no GET route of qwen3 serve {sorted(get_routes)}")
            elif path and hg.get("path") != path:
                self.err(where, f"{probe} should probe {path}, not {hg.get('path')}")
            port = hg.get("port")
            if port not in ports and port not in ports.values():
                self.err(where, f"{probe} port {port!r} is no container port")
            for k in ("periodSeconds", "timeoutSeconds", "failureThreshold", "initialDelaySeconds"):
                if k in pr and (not isinstance(pr[k], int) or pr[k] < (0 if k == "initialDelaySeconds" else 1)):
                    self.err(where, f"{probe}.{k} must be a positive integer")
        # Shutdown: the grace period covers the preStop hook and the drain.
        pre = ((c.get("lifecycle") or {}).get("preStop") or {})
        sleep = 0
        if "exec" in pre:
            cmdl = pre["exec"].get("command") or []
            if len(cmdl) == 2 and cmdl[0] == "sleep":
                sleep = float(cmdl[1])
        elif "sleep" in pre:
            sleep = float(pre["sleep"].get("seconds", 0))
        else:
            self.err(where, "a preStop hook is expected (time for the endpoints to drop the Pod before SIGTERM)")
        if not isinstance(grace, int) or grace < sleep + drain:
            self.err(where, f"terminationGracePeriodSeconds {grace} < preStop {sleep:g} s + --drain-timeout {drain:g} s")
        # Resources: quantities.
        for section in ("requests", "limits"):
            for k, v in ((c.get("resources") or {}).get(section) or {}).items():
                if not QUANTITY.match(str(v)):
                    self.err(where, f"resources.{section}.{k}: {v!r} is not a quantity")
        for vm in c.get("volumeMounts") or []:
            if vm.get("name") not in volumes:
                self.err(where, f"volumeMount {vm.get('name')!r} names no volume")
        # Prometheus annotations: the metrics route on a container port.
        ann = (tmpl.get("metadata") or {}).get("annotations") or {}
        if ann.get("prometheus.io/scrape") != "true":
            self.err(where, "prometheus.io/scrape: \"true\" is expected on the Pod template")
        if str(ann.get("prometheus.io/port")) not in {str(p) for p in ports.values()}:
            self.err(where, f"prometheus.io/port {ann.get('prometheus.io/port')!r} is no container port")
        if ("GET", ann.get("prometheus.io/path", "/metrics")) not in self.routes:
            self.err(where, f"prometheus.io/path {ann.get('prometheus.io/path')!r} is no route of qwen3 serve")

    def service(self, f, d):
        spec = d.get("spec") or {}
        where = f"{f} Service {d['metadata']['name']}"
        sel = spec.get("selector") or {}
        deps = self.of("Deployment")
        matched = [dd for _, dd in deps
                   if all(((dd["spec"]["template"].get("metadata") or {}).get("labels") or {}).get(k) == v
                          for k, v in sel.items())]
        if not sel or not matched:
            self.err(where, f"selector {sel} selects no Deployment's Pods")
        ports = spec.get("ports") or []
        if not ports:
            self.err(where, "spec.ports is required")
        for p in ports:
            if not isinstance(p.get("port"), int) or not 1 <= p["port"] <= 65535:
                self.err(where, f"port {p.get('port')!r} must be an integer in 1..65535")
            tp = p.get("targetPort", p.get("port"))
            cports = {}
            for dd in matched:
                for c in dd["spec"]["template"]["spec"].get("containers") or []:
                    for cp in c.get("ports") or []:
                        cports[cp.get("name")] = cp.get("containerPort")
            if tp not in cports and tp not in cports.values():
                self.err(where, f"targetPort {tp!r} is no containerPort of the selected Pods {cports}")
        if len(ports) > 1 and any("name" not in p for p in ports):
            self.err(where, "every port needs a name when there are several")
        if spec.get("sessionAffinity", "None") not in ("None", "ClientIP"):
            self.err(where, f"sessionAffinity {spec.get('sessionAffinity')!r}")

    def hpa(self, f, d):
        spec = d.get("spec") or {}
        where = f"{f} HorizontalPodAutoscaler {d['metadata']['name']}"
        ref = spec.get("scaleTargetRef") or {}
        if ref.get("kind") != "Deployment" or ref.get("name") not in self.names("Deployment") \
                or ref.get("apiVersion") != "apps/v1":
            self.err(where, f"scaleTargetRef {ref} is not a Deployment among the manifests")
        lo, hi = spec.get("minReplicas", 1), spec.get("maxReplicas")
        if not isinstance(hi, int) or not isinstance(lo, int) or not 1 <= lo <= hi:
            self.err(where, f"need 1 <= minReplicas ({lo}) <= maxReplicas ({hi})")
        for m in spec.get("metrics") or []:
            t = m.get("type")
            if t == "Pods":
                name = ((m.get("pods") or {}).get("metric") or {}).get("name")
                target = (m.get("pods") or {}).get("target") or {}
                if name not in self.metrics:
                    self.err(where, f"metric {name!r} is not exported by qwen3 serve (src/server/metrics.cpp)")
                if target.get("type") != "AverageValue" or not QUANTITY.match(str(target.get("averageValue", ""))):
                    self.err(where, "a Pods metric needs target type AverageValue with an averageValue quantity")
            elif t not in ("Resource", "Object", "External", "ContainerResource"):
                self.err(where, f"metric type {t!r}")

    def ingress(self, f, d):
        where = f"{f} Ingress {d['metadata']['name']}"
        svcs = {dd["metadata"]["name"]: dd for _, dd in self.of("Service")}
        for rule in (d.get("spec") or {}).get("rules") or []:
            for p in ((rule.get("http") or {}).get("paths")) or []:
                if p.get("pathType") not in ("Exact", "Prefix", "ImplementationSpecific"):
                    self.err(where, f"pathType {p.get('pathType')!r}")
                svc = (p.get("backend") or {}).get("service") or {}
                if svc.get("name") not in svcs:
                    self.err(where, f"backend Service {svc.get('name')!r} is not among the manifests")
                    continue
                port = svc.get("port") or {}
                sports = svcs[svc["name"]]["spec"].get("ports") or []
                if not any(port.get("name") == sp.get("name") if "name" in port else port.get("number") == sp.get("port")
                           for sp in sports):
                    self.err(where, f"backend port {port} is no port of Service {svc['name']}")

    def pvc(self, f, d):
        spec = d.get("spec") or {}
        where = f"{f} PersistentVolumeClaim {d['metadata']['name']}"
        modes = spec.get("accessModes") or []
        if not modes or any(m not in ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
                            for m in modes):
            self.err(where, f"accessModes {modes}")
        st = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if not QUANTITY.match(str(st or "")):
            self.err(where, f"resources.requests.storage {st!r} is not a quantity")

    def kustomization(self, f, d, files):
        listed = set(d.get("resources") or [])
        others = {os.path.basename(x) for x in files if os.path.basename(x) != os.path.basename(f)}
        if listed != others:
            self.err(f, f"resources {sorted(listed)} differ from the manifests here {sorted(others)}")

    def run(self, files):
        for f, d in self.docs:
            if not isinstance(d, dict):
                self.err(f, "a manifest must be a map")
                continue
            self.common(f, d)
        valid = [(f, d) for f, d in self.docs if isinstance(d, dict) and d.get("kind") in API]
        for f, d in valid:
            if d["kind"] != "Kustomization" and not isinstance((d.get("metadata") or {}).get("name"), str):
                continue  # reported above
            {"ConfigMap": self.configmap, "Deployment": self.deployment, "Service": self.service,
             "HorizontalPodAutoscaler": self.hpa, "Ingress": self.ingress, "PersistentVolumeClaim": self.pvc,
             "Kustomization": lambda f_, d_: self.kustomization(f_, d_, files)}[d["kind"]](f, d)
        for kind in ("Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"):
            if not self.of(kind):
                self.err("manifests", f"no {kind}")
        return self.errors


def load(directory):
    files = sorted(os.path.join(directory, x) for x in os.listdir(directory) if x.endswith((".yaml", ".yml")))
    docs = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for d in yaml.safe_load_all(fh):
                if d is not None:
                    docs.append((os.path.relpath(f, ROOT), d))
    return files, docs


def self_test(files, docs, qwen3):
    """Each breakage must be reported; returns the ones that were not."""
    def container(ds):
        return next(d for _, d in ds if d.get("kind") == "Deployment")["spec"]["template"]["spec"]["containers"][0]

    def dep(ds):
        return next(d for _, d in ds if d.get("kind") == "Deployment")

    def of(ds, kind):
        return next(d for _, d in ds if d.get("kind") == kind)

    breakages = {
        "grace period shorter than the drain": lambda ds: dep(ds)["spec"]["template"]["spec"].update(
            terminationGracePeriodSeconds=20),
        "readiness on a route the server lacks": lambda ds: container(ds)["readinessProbe"]["httpGet"].update(
            path="/ready"),
        "liveness on readiness": lambda ds: container(ds)["livenessProbe"]["httpGet"].update(path="/health/ready"),
        "selector not matching the template": lambda ds: dep(ds)["spec"]["selector"]["matchLabels"].update(
            {"app.kubernetes.io/name": "other"}),
        "Service targetPort not a container port": lambda ds: of(ds, "Service")["spec"]["ports"][0].update(
            targetPort=9090),
        "HPA on a metric the server lacks": lambda ds: of(ds, "HorizontalPodAutoscaler")["spec"]["metrics"][0][
            "pods"]["metric"].update(name="qwen3_queue_length"),
        "unquoted annotation": lambda ds: dep(ds)["spec"]["template"]["metadata"]["annotations"].update(
            {"prometheus.io/port": 8080}),
        "missing image": lambda ds: container(ds).pop("image"),
        "missing metadata.name": lambda ds: of(ds, "ConfigMap")["metadata"].pop("name"),
        "apps/v1beta1 Deployment": lambda ds: dep(ds).update(apiVersion="apps/v1beta1"),
        "longer drain in the ConfigMap": lambda ds: of(ds, "ConfigMap")["data"].update(
            QWEN3_SERVE_FLAGS=of(ds, "ConfigMap")["data"]["QWEN3_SERVE_FLAGS"].replace(
                "--drain-timeout 30", "--drain-timeout 60")),
        "ConfigMap value not a string": lambda ds: of(ds, "ConfigMap")["data"].update(PARALLEL=4),
        "Ingress to a missing Service": lambda ds: of(ds, "Ingress")["spec"]["rules"][0]["http"]["paths"][0][
            "backend"]["service"].update(name="nope"),
        "service links into QWEN3_*": lambda ds: dep(ds)["spec"]["template"]["spec"].pop("enableServiceLinks"),
        "claim not among the manifests": lambda ds: dep(ds)["spec"]["template"]["spec"]["volumes"][0][
            "persistentVolumeClaim"].update(claimName="nope"),
    }
    if qwen3:
        breakages["a flag qwen3 serve lacks"] = lambda ds: of(ds, "ConfigMap")["data"].update(
            QWEN3_SERVE_FLAGS=of(ds, "ConfigMap")["data"]["QWEN3_SERVE_FLAGS"] + " --no-such-flag 1")
    missed = []
    for what, breakit in breakages.items():
        ds = copy.deepcopy(docs)
        breakit(ds)
        errs = Checker(ds, qwen3).run(files)
        print(f"self-test: {what}: {errs[0] if errs else 'NOT REPORTED'}")
        if not errs:
            missed.append(what)
    return missed


def main(argv):
    qwen3, st, rest = None, False, []
    it = iter(argv)
    for a in it:
        if a == "--qwen3":
            qwen3 = next(it)
        elif a == "--self-test":
            st = True
        else:
            rest.append(a)
    directory = rest[0] if rest else os.path.join(ROOT, "deploy/kubernetes")
    files, docs = load(directory)
    errors = Checker(docs, qwen3).run(files)
    for e in errors:
        print(f"error: {e}")
    kinds = ", ".join(sorted({d.get('kind', '?') for _, d in docs}))
    print(f"check_manifests: {len(docs)} manifests ({kinds}) in {os.path.relpath(directory, ROOT)}: "
          f"{len(errors)} error(s)" + ("" if qwen3 else " (serve flags not checked: no --qwen3)"))
    if st:
        missed = self_test(files, docs, qwen3)
        if missed:
            print(f"check_manifests: the self-test's breakages not reported: {missed}")
            return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
