#!/usr/bin/env python3
"""Checks deploy/envoy/envoy.yaml against the /auth contract the tests exercise.

Envoy cannot run on the test machines, so this holds the shipped configuration to what
tests/api/auth.rs proves of introspectd: the path prefix, fail-closed behaviour, a timeout
introspectd's store timeout fits in, the request headers /auth reads, and exactly the identity
headers it sets (read from src/gateway.rs, so the two cannot drift apart).
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def exact(patterns):
    return {p["exact"] for p in patterns["patterns"]}


def main():
    config = yaml.safe_load((ROOT / "deploy/envoy/envoy.yaml").read_text())
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    filters = {f["name"]: f.get("typed_config", {}) for f in hcm["http_filters"]}
    authz = filters["envoy.filters.http.ext_authz"]
    service = authz["http_service"]
    rust = (ROOT / "src/gateway.rs").read_text()
    standard = re.search(r"STANDARD_HEADERS: \[&str; \d+\] = \[(.*?)\];", rust, re.S).group(1)
    identity = set(re.findall(r'"(x-auth-[a-z-]+)"', standard))
    problems = []

    def expect(ok, what):
        if not ok:
            problems.append(what)

    expect(authz.get("failure_mode_allow") is False, "failure_mode_allow must be false")
    expect(service.get("path_prefix") == "/auth", "path_prefix must be /auth")
    timeout = float(service["server_uri"]["timeout"].rstrip("s"))
    expect(0.1 < timeout <= 0.2, "timeout must exceed store.command_timeout_ms (100 ms) and stay within 200 ms")
    expect({"authorization", "cookie", "x-required-scope"} <= exact(authz["allowed_headers"]),
           "allowed_headers must include authorization, cookie and x-required-scope")
    response = service["authorization_response"]
    expect(exact(response["allowed_upstream_headers"]) == identity,
           f"allowed_upstream_headers must be exactly {sorted(identity)}")
    expect({"www-authenticate", "retry-after"} <= exact(response["allowed_client_headers"]),
           "allowed_client_headers must include www-authenticate and retry-after")
    names = [f["name"] for f in hcm["http_filters"]]
    expect(names.index("envoy.filters.http.header_mutation") < names.index("envoy.filters.http.ext_authz"),
           "header_mutation must run before ext_authz so X-Required-Scope reaches /auth")
    expect(names[-1] == "envoy.filters.http.router", "the router must be the last filter")
    if problems:
        for p in problems:
            print(f"envoy.yaml: {p}", file=sys.stderr)
        return 1
    print(f"envoy.yaml: ok ({len(identity)} identity headers, timeout {timeout}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
