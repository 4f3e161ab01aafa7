#!/usr/bin/env python3
"""Checks deploy/kubernetes/ingress-nginx.yaml against the /auth contract.

ingress-nginx cannot run where introspectd is tested (its contract is nginx's auth_request,
tested against a real nginx in tests/api/nginx.rs). This holds every Ingress of the example to:
auth-url is /auth on a Service that reaches the sidecar's port; auth-response-headers are exactly
the identity headers introspectd sets (read from src/gateway/mod.rs); no auth-cache-key, which
would keep revoked tokens accepted; auth-proxy-set-headers names a ConfigMap of the file that
sets X-Required-Scope.
"""
import pathlib
import sys
from urllib.parse import urlsplit

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
from contract import identity_headers, report  # noqa: E402
PREFIX = "nginx.ingress.kubernetes.io/"


def main():
    identity = identity_headers()
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/ingress-nginx.yaml").read_text()) if d]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    config_maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    ingresses = [d for d in docs if d["kind"] == "Ingress"]
    problems = []

    def expect(ok, what):
        if not ok:
            problems.append(what)

    expect(len(ingresses) >= 2, "expected an Ingress without and one with a required scope")
    scoped = 0
    for ingress in ingresses:
        name = ingress["metadata"]["name"]
        notes = {k[len(PREFIX):]: v for k, v in ingress["metadata"]["annotations"].items()
                 if k.startswith(PREFIX)}
        expect("auth-cache-key" not in notes,
               f"{name}: auth-cache-key would keep revoked tokens accepted until the cache expires")
        url = urlsplit(notes.get("auth-url", ""))
        expect(url.path == "/auth", f"{name}: auth-url must call /auth")
        host = url.hostname or ""
        service = services.get(host.split(".")[0])
        expect(service is not None, f"{name}: auth-url's host must be a Service of the file")
        if service is not None:
            port = {p["port"]: p for p in service["spec"]["ports"]}.get(url.port)
            expect(port is not None and port["targetPort"] == "introspectd",
                   f"{name}: auth-url's port must reach the sidecar's introspectd port")
        headers = {h.strip().lower() for h in notes.get("auth-response-headers", "").split(",")}
        expect(headers == identity, f"{name}: auth-response-headers must be exactly {sorted(identity)}")
        if "auth-proxy-set-headers" in notes:
            scoped += 1
            config = config_maps.get(notes["auth-proxy-set-headers"].split("/")[-1])
            expect(config is not None and set(config["data"]) == {"X-Required-Scope"},
                   f"{name}: auth-proxy-set-headers must name a ConfigMap setting X-Required-Scope")
    expect(scoped >= 1, "one Ingress must show a required scope (auth-proxy-set-headers)")
    return report("ingress-nginx.yaml", problems,
                  f"{len(ingresses)} Ingresses, {len(identity)} identity headers")


if __name__ == "__main__":
    sys.exit(main())
