# badnet: see, by measurement, what UDP and TCP do on a bad network.
#
#   make test       lint, unit tests and every suite (needs root: network namespaces)
#   make test-netns the same (every suite runs on network-namespace hosts)
#   make build      build every crate and binary
#   make doctor     what this machine can do
#   make clean-net  remove what killed runs left behind
#   make images     the services image, FROM scratch, from static binaries (no registry)
#   make demo       UDP and TCP side by side on a ladder of bad networks (badnet-report/)
#   make test-kernel the netem backend against a real sch_netem, in a small VM
#   make bench      benchmarks (release build): target/bench/*.json and summary.md
#   make install    badnet, the four programs, completions and man pages in PREFIX (/usr/local)
#   make deb        the same as a Debian package (cargo-deb): target/debian/badnet_*.deb
#   make docs       the book (docs/, mdBook) as HTML in target/book/

SHELL := /bin/bash
CARGO ?= cargo
# Test runner: cargo-nextest when installed (parallel across suites), else cargo test.
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: all build test test-netns test-wire test-kernel lint fmt deps check-root doctor clean-net images demo bench install install-check cargo-deb deb deb-check kernel-fetch mdbook docs

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
IMAGE := badnet/services:$(VERSION)
TARGET := x86_64-unknown-linux-gnu
IMAGE_BINS := udp-server udp-client tcp-server tcp-client
CONTEXT := target/docker-context
# The services' static binaries (the image's and the VM's) build in a target
# directory of their own, so that they build while clippy runs.
STATIC_DIR := target/static
STATIC_BIN := $(STATIC_DIR)/$(TARGET)/image
STATIC_BUILD := RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=$(STATIC_DIR) \
  $(CARGO) build --profile image --target $(TARGET) -p services --bins
# Whether a Docker engine answers.
DOCKER := $(shell docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && echo yes)

all: build

## System packages the suites need: iproute2 (ip, tc), python3 (the lecture's
## programs), tcpdump (the demo's captures), chromium (renders the demo's
## report.html in a test), iperf3 and socat (programs nobody here wrote, run
## as your own programs), Redis with Sentinel (a cluster nobody here wrote,
## under a partition). No package may start a daemon of its own meanwhile
## (RUNLEVEL=1 and, where none is, a policy-rc.d that says no, removed after).
deps:
	@missing=""; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v tc >/dev/null || missing="$$missing iproute2"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	command -v tcpdump >/dev/null || missing="$$missing tcpdump"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v iperf3 >/dev/null || missing="$$missing iperf3"; \
	command -v socat >/dev/null || missing="$$missing socat"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v redis-sentinel >/dev/null || missing="$$missing redis-sentinel"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  made=; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made=1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends $$missing; \
	  rc=$$?; [ -z "$$made" ] || rm -f /usr/sbin/policy-rc.d; [ $$rc = 0 ]; \
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

# make test lints while it builds: clippy's driver is the compiler of the
# workspace's own crates (as `cargo clippy` makes it, but for the real
# build, not a check), with the same -D warnings. One build instead of a
# check and a build: on two cores the separate clippy took 85 s, linting
# in the build adds nothing measurable to its 20 s for the workspace.
# (rustup's clippy-driver: make deps adds the component where it is missing.)
CLIPPY_DRIVER := clippy-driver
CLIPPY_DENY := -D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

# The container suite needs the image; without a Docker engine it fails and
# says so (make test-netns runs everything else). Where the kernel has netem,
# backend auto picks it, and the scenario suites run once more on the wire;
# where it has none, the kernel lane tests the netem backend in a VM (after
# the suites: beside them, niced, QEMU was starved and the VM's own timing
# checks failed). The VM's kernel downloads while cargo-deb installs (where
# it must); the builds run one after another (side by side on two cores
# they took 10 s longer). A build from scratch without incremental caches
# is faster, and make test builds from scratch on a fresh clone.
test: export CARGO_INCREMENTAL := 0
test: export RUSTC_WORKSPACE_WRAPPER := $(CLIPPY_DRIVER)
test: export CLIPPY_ARGS := $(CLIPPY_DENY)
test: deps check-root
	$(CARGO) fmt --all --check
	$(MAKE) --no-print-directory -j3 --output-sync=target kernel-fetch cargo-deb $(if $(DOCKER),images)
ifeq ($(NEXTEST),yes)
	$(CARGO) test --workspace --doc
	$(CARGO) nextest run --workspace --profile ci -E 'not binary(kernel)'
else
	$(CARGO) test --workspace --no-fail-fast -- --skip netem_backend_passes_the_suite_in_a_vm
endif
	$(MAKE) --no-print-directory install-check deb-check
	@if ./target/debug/badnet doctor --json | grep -q '"netem": true'; \
	  then $(MAKE) --no-print-directory test-wire; \
	  else $(MAKE) --no-print-directory test-kernel; fi

# The kernel lane's Debian kernel, downloaded (once) while make test builds.
# Never fails: where it cannot be fetched, the kernel lane (if it runs)
# tries again and says why.
kernel-fetch:
	@bash tests/kernel/build-image.sh fetch >/dev/null 2>&1 || \
	  echo "kernel-fetch: no kernel fetched now; make test-kernel will try again"

# The VM: Debian's kernel and its sch_netem, busybox, the host's ip and tc,
# the services' static binaries (the image's build) and the test build of
# badnet (cached under target/kernel/; the kernel is downloaded once). The
# wire half of the parity check runs the debug binaries on the host. QEMU
# runs with KVM where the CPU offers it, TCG otherwise.
test-kernel: deps check-root
	@missing=""; \
	command -v qemu-system-x86_64 >/dev/null || missing="$$missing qemu-system-x86"; \
	command -v busybox >/dev/null || missing="$$missing busybox-static"; \
	command -v cpio >/dev/null || missing="$$missing cpio"; \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)
	$(STATIC_BUILD)
	$(CARGO) build --workspace --bins
	bash tests/kernel/build-image.sh
	$(CARGO) nextest run --no-fail-fast --no-capture --test kernel

test-wire:
	BADNET_BACKEND=wire $(CARGO) nextest run --no-fail-fast --test netns -E 'test(/^(udp|tcp)::/)'

test-netns: deps check-root lint
ifeq ($(NEXTEST),yes)
	$(CARGO) test --workspace --doc
	$(CARGO) nextest run --workspace --no-fail-fast -E 'not (binary(containers) | binary(kernel))'
else
	$(CARGO) test --workspace --no-fail-fast -- --skip container --skip netem_backend_passes_the_suite_in_a_vm
endif

images:
	rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)
	$(STATIC_BUILD)
	rm -rf $(CONTEXT) && mkdir -p $(CONTEXT)
	cp $(addprefix $(STATIC_BIN)/,$(IMAGE_BINS)) $(CONTEXT)/
	DOCKER_BUILDKIT=0 docker build --quiet -f docker/Dockerfile \
	  --build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) \
	  -t $(IMAGE) $(CONTEXT)
	@docker image inspect -f '{{.Size}}' $(IMAGE) | awk '{printf "$(IMAGE): %.2f MB\n", $$1/1e6}'

doctor: build
	./target/debug/badnet doctor

clean-net: build
	./target/debug/badnet cleanup

demo: deps check-root
	$(CARGO) build --release --workspace --bins
	./target/release/badnet demo

# Benchmarks, not tests: the test suites timed (built first, so the time is
# the runs'), then `badnet bench` (release): the wire against veth,
# impairment fidelity, the servers against the lecture's, 10,000 clients,
# runs alone and side by side. BENCH_FLAGS=--quick for a short pass.
BENCH_OUT := target/bench
bench: deps check-root
	$(CARGO) build --release --workspace --bins
	mkdir -p $(BENCH_OUT)
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --no-run
	start=$$(date +%s.%N); \
	$(CARGO) nextest run --workspace --no-fail-fast -E 'not (binary(containers) | binary(kernel))' >$(BENCH_OUT)/tests.log 2>&1; \
	rc=$$?; end=$$(date +%s.%N); \
	echo "{\"suites\": \"nextest, every suite but the container and VM lanes\", \"wall_s\": $$(awk "BEGIN{printf \"%.1f\", $$end - $$start}"), \"exit\": $$rc}" >$(BENCH_OUT)/tests.json; \
	cat $(BENCH_OUT)/tests.json
endif
	./target/release/badnet bench --out $(BENCH_OUT) $(BENCH_FLAGS)

# badnet and the four programs it runs in PREFIX/bin (the installed badnet
# finds them beside itself), shell completions and man pages beside them.
# INSTALL_PROFILE=debug installs the test build instead of a release one.
PREFIX ?= /usr/local
INSTALL_PROFILE ?= release
INSTALL_DIR := target/$(if $(filter release,$(INSTALL_PROFILE)),release,debug)
install:
	$(CARGO) build $(if $(filter release,$(INSTALL_PROFILE)),--release) --workspace --bins
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 755 $(addprefix $(INSTALL_DIR)/,badnet $(IMAGE_BINS)) $(DESTDIR)$(PREFIX)/bin/
	$(INSTALL_DIR)/badnet completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/badnet
	$(INSTALL_DIR)/badnet completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_badnet
	$(INSTALL_DIR)/badnet completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/badnet.fish
	$(INSTALL_DIR)/badnet manpage --dir $(DESTDIR)$(PREFIX)/share/man/man1

# make install into a temporary prefix, then the installed badnet runs a
# scenario from / with nothing but PREFIX/bin and the system's directories
# on its PATH.
CHECK_PREFIX := $(CURDIR)/target/install-check
install-check: check-root
	rm -rf $(CHECK_PREFIX)
	$(MAKE) --no-print-directory install PREFIX=$(CHECK_PREFIX) INSTALL_PROFILE=debug
	test -s $(CHECK_PREFIX)/share/man/man1/badnet.1 && test -s $(CHECK_PREFIX)/share/man/man1/badnet-run.1
	grep -q badnet $(CHECK_PREFIX)/share/bash-completion/completions/badnet
	cd / && env -i PATH=$(CHECK_PREFIX)/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	  badnet run udp --count 200 --interval 1ms --json | grep -q '"received":200'
	@echo "install-check: the installed badnet ran a scenario from / with PATH=$(CHECK_PREFIX)/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	rm -rf $(CHECK_PREFIX)

# The Debian package (cargo-deb, installed once: a debug build without its
# liblzma; the system's gzip or xz compress). DEB_PROFILE=dev packages the
# test build instead of a release one; either is stripped when staged.
DEB_PROFILE ?= release
DEB_DIR := target/$(if $(filter release,$(DEB_PROFILE)),release,debug)
DEB_FLAGS ?= -Z xz
DEB_STAGE := target/deb-assets
cargo-deb:
	@$(CARGO) deb --version >/dev/null 2>&1 || \
	  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS \
	  $(CARGO) install cargo-deb --locked --no-default-features --debug
deb: cargo-deb
	$(CARGO) build $(if $(filter release,$(DEB_PROFILE)),--release) --workspace --bins
	rm -rf $(DEB_STAGE) && mkdir -p $(addprefix $(DEB_STAGE)/,bin bash zsh fish man)
	for b in badnet $(IMAGE_BINS); do strip -o $(DEB_STAGE)/bin/$$b $(DEB_DIR)/$$b; done
	$(DEB_DIR)/badnet completions bash > $(DEB_STAGE)/bash/badnet
	$(DEB_DIR)/badnet completions zsh > $(DEB_STAGE)/zsh/_badnet
	$(DEB_DIR)/badnet completions fish > $(DEB_STAGE)/fish/badnet.fish
	$(DEB_DIR)/badnet manpage --dir $(DEB_STAGE)/man
	rm -f target/debian/badnet_*.deb
	$(CARGO) deb --no-build --no-strip --compress-system $(DEB_FLAGS) --output target/debian/

# make deb (of the test build), then the package unpacked into a temporary
# root with dpkg-deb -x: its control names iproute2, it holds the five
# programs, completions and man pages, and its badnet runs a scenario from /
# with nothing but the unpacked usr/bin and the system's directories on PATH.
DEB_ROOT := $(CURDIR)/target/deb-check
deb-check: check-root
	$(MAKE) --no-print-directory deb DEB_PROFILE=dev DEB_FLAGS='--fast -Z gz'
	rm -rf $(DEB_ROOT) && mkdir -p $(DEB_ROOT)
	dpkg-deb -f target/debian/badnet_*.deb Depends | grep -q iproute2
	dpkg-deb -x target/debian/badnet_*.deb $(DEB_ROOT)
	for f in $(addprefix usr/bin/,badnet $(IMAGE_BINS)) usr/share/man/man1/badnet.1.gz \
	  usr/share/man/man1/badnet-run.1.gz usr/share/bash-completion/completions/badnet; do \
	  test -s $(DEB_ROOT)/$$f || { echo "deb-check: the package lacks $$f"; exit 1; }; done
	cd / && env -i PATH=$(DEB_ROOT)/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	  badnet run udp --count 200 --interval 1ms --json | grep -q '"received":200'
	@echo "deb-check: $$(basename target/debian/badnet_*.deb) unpacked; its badnet ran a scenario from / with PATH=$(DEB_ROOT)/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	rm -rf $(DEB_ROOT)

# The book (docs/, mdBook) as HTML in target/book/ (docs/book.toml), with
# mdbook installed once. make test does not build it: installing mdbook
# took 107 s on two cores, so tests/docs.rs checks the book's links,
# anchors and commands without it, beside the other suites.
mdbook:
	@mdbook --version >/dev/null 2>&1 || \
	  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS \
	  $(CARGO) install mdbook --locked
docs: mdbook
	mdbook build docs
	@echo "docs: target/book/index.html"
