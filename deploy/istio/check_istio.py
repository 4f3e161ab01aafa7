#!/usr/bin/env python3
"""Checks the Istio example in deploy/istio/ for the mistakes a schema would not catch either.

The Istio CRDs' schemas (ServiceEntry, AuthorizationPolicy) are not available where introspectd is
tested, so this holds the example together instead: the CUSTOM policy names the mesh's provider,
the provider fails closed within introspectd's timeout budget, and the provider, the ServiceEntry,
the sidecar's gRPC address and Envoy's gRPC example all agree on the port. The two ConfigMaps are
also validated by kubernetes-validate (make deploy-check).
"""
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
from contract import report  # noqa: E402


def load_all(path):
    return [d for d in yaml.safe_load_all((ROOT / path).read_text()) if d]


def main():
    problems = []

    def expect(ok, what):
        if not ok:
            problems.append(what)

    (mesh_map,) = load_all("deploy/istio/mesh-config.yaml")
    mesh = yaml.safe_load(mesh_map["data"]["mesh"])
    providers = {p["name"]: p for p in mesh["extensionProviders"]}
    by_kind = {d["kind"]: d for d in load_all("deploy/istio/authorization-policy.yaml")}
    policy = by_kind["AuthorizationPolicy"]
    entry = by_kind["ServiceEntry"]
    (env_map,) = load_all("deploy/istio/introspectd-grpc.env.yaml")
    listen = env_map["data"]["INTROSPECTD__SERVER__GRPC_LISTEN"]

    expect(policy["spec"]["action"] == "CUSTOM", "the AuthorizationPolicy's action must be CUSTOM")
    name = policy["spec"]["provider"]["name"]
    expect(name in providers, f"the policy's provider {name!r} is not in the mesh's extensionProviders")
    grpc = providers.get(name, {}).get("envoyExtAuthzGrpc", {})
    expect(bool(grpc), f"provider {name!r} must be envoyExtAuthzGrpc")
    expect(grpc.get("failOpen") is False, "failOpen must be false")
    timeout = float(str(grpc.get("timeout", "0s")).rstrip("s"))
    expect(0.1 < timeout <= 0.2,
           "timeout must exceed store.command_timeout_ms (100 ms) and stay within 200 ms")
    expect(grpc.get("service") in entry["spec"]["hosts"],
           "the provider's service must be the ServiceEntry's host")
    ports = {p["number"]: p for p in entry["spec"]["ports"]}
    port = grpc.get("port")
    expect(port in ports and ports[port]["protocol"] == "GRPC",
           "the provider's port must be a GRPC port of the ServiceEntry")
    expect([e["address"] for e in entry["spec"]["endpoints"]] == ["127.0.0.1"],
           "the ServiceEntry must point at the pod's loopback")
    expect(listen == f"127.0.0.1:{port}",
           f"the sidecar's server.grpc_listen ({listen}) must be 127.0.0.1:{port}")
    envoy = yaml.safe_load((ROOT / "deploy/envoy/envoy-grpc.yaml").read_text())
    clusters = {c["name"]: c for c in envoy["static_resources"]["clusters"]}
    address = clusters["introspectd_grpc"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0][
        "endpoint"]["address"]["socket_address"]
    expect(f"{address['address']}:{address['port_value']}" == listen,
           "deploy/envoy/envoy-grpc.yaml must call the sidecar's server.grpc_listen")
    labels = yaml.safe_load((ROOT / "deploy/kubernetes/deployment.yaml").read_text())[
        "spec"]["template"]["metadata"]["labels"]
    selector = policy["spec"]["selector"]["matchLabels"]
    expect(selector.items() <= labels.items(),
           "the policy's selector must match the pods of deploy/kubernetes/deployment.yaml")
    return report("deploy/istio", problems, f"provider {name!r}, {listen}, timeout {timeout}s")


if __name__ == "__main__":
    sys.exit(main())
