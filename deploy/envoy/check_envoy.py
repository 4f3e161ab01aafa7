#!/usr/bin/env python3
"""Checks deploy/envoy/envoy.yaml and envoy-grpc.yaml against the contract the tests exercise.

Envoy cannot run on the test machines, so this holds the shipped configurations to what
tests/api/auth.rs (HTTP) and tests/api/grpc.rs (gRPC) prove of introspectd: the path prefix or
the gRPC service, fail-closed behaviour, a timeout introspectd's store timeout fits in, the
request headers introspectd reads, exactly the identity headers it sets (read from
src/gateway/mod.rs, so the two cannot drift apart), and the per-route scope's context extension
(read from src/grpc/authz.rs).
"""
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
from contract import identity_headers, report, scope_extension  # noqa: E402


def exact(patterns):
    return {p["exact"] for p in patterns["patterns"] if "exact" in p}


def ext_authz(config):
    """The HTTP connection manager and its ext_authz filter's settings."""
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    filters = {f["name"]: f.get("typed_config", {}) for f in hcm["http_filters"]}
    return hcm, filters["envoy.filters.http.ext_authz"]


def seconds(duration):
    return float(duration.rstrip("s"))


def check_timeout(expect, timeout):
    expect(0.1 < timeout <= 0.2,
           "timeout must exceed store.command_timeout_ms (100 ms) and stay within 200 ms")


def check_http(config, identity, expect):
    hcm, authz = ext_authz(config)
    service = authz["http_service"]
    expect(authz.get("failure_mode_allow") is False, "failure_mode_allow must be false")
    expect(service.get("path_prefix") == "/auth", "path_prefix must be /auth")
    timeout = seconds(service["server_uri"]["timeout"])
    check_timeout(expect, timeout)
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
    return timeout


def check_grpc(config, identity, extension, expect):
    hcm, authz = ext_authz(config)
    expect(authz.get("transport_api_version") == "V3", "transport_api_version must be V3")
    expect(authz.get("failure_mode_allow") is False, "failure_mode_allow must be false")
    expect("http_service" not in authz, "a gRPC ext_authz has no http_service")
    grpc = authz["grpc_service"]
    timeout = seconds(grpc["timeout"])
    check_timeout(expect, timeout)
    patterns = authz["allowed_headers"]["patterns"]
    expect({"authorization", "cookie", "x-required-scope"} <= exact(authz["allowed_headers"]),
           "allowed_headers must include authorization, cookie and x-required-scope")
    prefixes = [p["prefix"] for p in patterns if "prefix" in p]
    expect(all(any(h.startswith(p) for p in prefixes) for h in identity),
           "allowed_headers must let the identity headers through, so forged ones are removed")
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    cluster = clusters.get(grpc["envoy_grpc"]["cluster_name"])
    expect(cluster is not None, "grpc_service must name a defined cluster")
    if cluster is not None:
        options = cluster.get("typed_extension_protocol_options", {}).get(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions", {})
        expect("http2_protocol_options" in options.get("explicit_http_config", {}),
               "the introspectd cluster must speak HTTP/2 (gRPC)")
        health = [h["grpc_health_check"] for h in cluster.get("health_checks", [])]
        expect(health == [{"service_name": "envoy.service.auth.v3.Authorization"}],
               "the cluster's health check must be grpc.health.v1 for the Authorization service")
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    scoped = [r["typed_per_filter_config"]["envoy.filters.http.ext_authz"]["check_settings"]
              ["context_extensions"] for r in routes
              if "check_settings" in r.get("typed_per_filter_config", {})
              .get("envoy.filters.http.ext_authz", {})]
    expect(scoped and all(set(c) == {extension} for c in scoped),
           f"per-route scopes must use the context extension {extension!r}")
    names = [f["name"] for f in hcm["http_filters"]]
    expect(names[-1] == "envoy.filters.http.router", "the router must be the last filter")
    return timeout


def main():
    identity = identity_headers()
    extension = scope_extension()
    failed = 0
    for name, check in [
        ("envoy.yaml", lambda c, e: check_http(c, identity, e)),
        ("envoy-grpc.yaml", lambda c, e: check_grpc(c, identity, extension, e)),
    ]:
        config = yaml.safe_load((ROOT / "deploy/envoy" / name).read_text())
        problems = []

        def expect(ok, what):
            if not ok:
                problems.append(what)

        timeout = check(config, expect)
        failed |= report(name, problems, f"{len(identity)} identity headers, timeout {timeout}s")
    return failed


if __name__ == "__main__":
    sys.exit(main())
