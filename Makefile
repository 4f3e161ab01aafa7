# introspectd: `make run` starts the service on the embedded store; `make test` installs what the
# tests need (redis-server, nginx and promtool from Debian's packages, linters in .venv) and runs every check.

SHELL := /bin/bash
CARGO ?= cargo
# Root installs directly; anyone else goes through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test deps toolchain fmt-check lint unit-and-integration build release

run:
	$(CARGO) run --release -- --config config/example.toml

test: deps toolchain fmt-check lint unit-and-integration

# Debian packages the tests start for real; installed only when their binary is missing.
deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

toolchain:
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

unit-and-integration:
	$(CARGO) test --all-targets

build:
	$(CARGO) build

release:
	$(CARGO) build --release --locked
