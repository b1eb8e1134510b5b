# badnet: see, by measurement, what UDP and TCP do on a bad network.
#
#   make test       lint, unit tests and every suite (needs root: network namespaces)
#   make test-netns the same (every suite runs on network-namespace hosts)
#   make build      build every crate and binary
#   make doctor     what this machine can do
#   make clean-net  remove what killed runs left behind

SHELL := /bin/bash
CARGO ?= cargo
# Test runner: cargo-nextest when installed (parallel across suites), else cargo test.
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: all build test test-netns lint fmt deps check-root doctor clean-net

all: build

## System packages the suites need: iproute2 (ip, tc) and python3 (the lecture's programs).
deps:
	@missing=""; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v tc >/dev/null || missing="$$missing iproute2"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt

check-root:
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make test needs root: the suites create network namespaces, veth pairs and TUN devices."; \
	  echo "Run it as root (sudo make test)."; \
	  exit 1; \
	fi

build:
	$(CARGO) build --workspace --all-targets

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: deps check-root lint
ifeq ($(NEXTEST),yes)
	$(CARGO) test --workspace --doc
	$(CARGO) nextest run --workspace --no-fail-fast
else
	$(CARGO) test --workspace --no-fail-fast
endif

test-netns: test

doctor: build
	./target/debug/badnet doctor

clean-net: build
	./target/debug/badnet cleanup
