"""What the deployment checks (check_envoy.py, check_istio.py, check_ingress.py) read from
introspectd's source, and how they report, said once."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def identity_headers():
    """The identity headers every allow sets, from src/gateway/mod.rs's STANDARD_HEADERS."""
    rust = (ROOT / "src/gateway/mod.rs").read_text()
    standard = re.search(r"STANDARD_HEADERS: \[&str; \d+\] = \[(.*?)\];", rust, re.S).group(1)
    return set(re.findall(r'"(x-auth-[a-z-]+)"', standard))


def scope_extension():
    """The per-route context extension of the gRPC ext_authz, from src/grpc/authz.rs."""
    rust = (ROOT / "src/grpc/authz.rs").read_text()
    return re.search(r'SCOPE_EXTENSION: &str = "([^"]+)"', rust).group(1)


def report(name, problems, ok):
    """Prints each problem of `name` to stderr, or its ok line; the exit status."""
    for p in problems:
        print(f"{name}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{name}: ok ({ok})")
    return 0
