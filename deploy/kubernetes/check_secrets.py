#!/usr/bin/env python3
"""Checks that every file the shipped Kubernetes configuration points introspectd at is mounted.

No cluster runs on the test machines, so this holds deploy/kubernetes/ to what a kubelet would
do: every `*_FILE` variable of the managed-Redis ConfigMap and every `*_file` key of the
sidecar's TOML names a path under a volumeMount of the introspectd container, whose volume is a
Secret declared in deploy/kubernetes/ that holds that key (after the volume's `items` mapping),
and whose mode lets the sidecar's user read it (everyone, or the pod's fsGroup).
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy/kubernetes"


def documents():
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


def main():
    docs = list(documents())
    secrets = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "Secret"}
    deployment = next(d for _, d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    sidecar = next(c for c in pod["initContainers"] if c["name"] == "introspectd")
    volumes = {v["name"]: v for v in pod["volumes"]}
    uid = sidecar["securityContext"]["runAsUser"]
    fs_group = pod.get("securityContext", {}).get("fsGroup")

    wanted = []  # (where, path)
    for name, doc in docs:
        if doc["kind"] != "ConfigMap":
            continue
        for key, value in doc.get("data", {}).items():
            if key.startswith("INTROSPECTD__") and key.endswith("_FILE"):
                wanted.append((f"{name} {key}", value))
            for m in re.finditer(r'^\s*(\w+_file)\s*=\s*"([^"]+)"', str(value), re.M):
                wanted.append((f"{name} {key} {m.group(1)}", m.group(2)))
    if len(wanted) < 5:
        sys.exit(f"expected the client secret and the four managed-Redis files, found {wanted}")

    failures = []
    for where, path in wanted:
        mounts = [
            m for m in sidecar["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/")
        ]
        if not mounts:
            failures.append(f"{where}: {path} is under no volumeMount of the introspectd container")
            continue
        mount = max(mounts, key=lambda m: len(m["mountPath"]))
        file = path[len(mount["mountPath"].rstrip("/")) + 1 :]
        source = volumes[mount["name"]].get("secret")
        if source is None:
            failures.append(f"{where}: volume {mount['name']} is not a Secret")
            continue
        secret = secrets.get(source["secretName"])
        if secret is None:
            failures.append(f"{where}: Secret {source['secretName']} is not declared in deploy/kubernetes")
            continue
        items = {i["path"]: i["key"] for i in source.get("items", [])}
        key = items.get(file, None if items else file)
        held = set(secret.get("stringData", {})) | set(secret.get("data", {}))
        if key not in held:
            failures.append(f"{where}: Secret {source['secretName']} holds no key for {file}")
        mode = source.get("defaultMode", 0o644)
        # Secret files are root's; with an fsGroup they are that group's, which every container of
        # the pod has as a supplementary group.
        readable = mode & 0o004 or (mode & 0o040 and fs_group is not None) or (mode & 0o400 and uid == 0)
        if not readable:
            failures.append(f"{where}: mode {oct(mode)} of {path} is unreadable by uid {uid}")
    if failures:
        sys.exit("\n".join(failures))
    print(f"deploy/kubernetes: {len(wanted)} files introspectd reads are mounted from Secrets")


if __name__ == "__main__":
    main()
