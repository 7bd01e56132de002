# A thin wrapper over go commands. `make test` is what CI runs.
GO      ?= go
DIR     ?= ./cluster
GOFLAGS ?=

.PHONY: all build run test unit e2e tools bench fuzz cross lint deps clean

all: build

# Tools the tests need that Go does not bring: openssl for chain checks,
# age (and age-keygen) to decrypt what bulwark encrypts, ssh-keygen for
# administrators' keys and signatures.
deps:
	@command -v openssl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
	@command -v age >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq age >/dev/null; }
	@command -v ssh-keygen >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq openssh-client >/dev/null; }

build:
	$(GO) build -o bin/bulwark ./cmd/bulwark

# Set up and run the main job with the built-in defaults.
run: build
	./bin/bulwark init --dir $(DIR)

# The pinned real components (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kubeadm) in .cache/bin.
tools:
	bash hack/build-tools.sh

# Tests run through gotestsum (as Kubernetes' own `make test` does): the
# usual `go test` output, then every failure's messages again at the very
# end, where a CI log's tail shows them. A failed real-component test keeps
# its processes' whole logs under .cache/test-output/_artifacts.
GOTESTSUM ?= $(GO) run gotest.tools/gotestsum@v1.13.0 --format standard-quiet --
TESTOUT   ?= $(CURDIR)/.cache/test-output

# Everything: the builds for every supported platform, unit, CLI, fuzz
# seeds and the real-component tests, then every fuzzer for a few seconds.
test: deps tools cross
	$(GO) vet ./...
	rm -rf $(TESTOUT) && mkdir -p $(TESTOUT)
	$(GOTESTSUM) -count=1 -timeout 80m -artifacts -outputdir $(TESTOUT) ./...
	cd tools/rbac && $(GOTESTSUM) -count=1 -timeout 20m ./upstream
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME) FUZZMINIMIZETIME=1s

# The supported platforms besides this one: the binary builds, and every
# package and test type-checks (vet), for macOS on Intel and Apple silicon
# and for Linux on arm64.
PLATFORMS ?= darwin/amd64 darwin/arm64 linux/arm64
cross:
	@for p in $(PLATFORMS); do \
	  echo "== $$p"; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build ./... || exit 1; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet ./... || exit 1; \
	done

unit:
	$(GO) test -short -count=1 ./...

# The real-component suite alone: etcd, kube-apiserver, controller manager,
# scheduler and kubectl started from bulwark's rendered manifests.
e2e: deps tools
	rm -rf $(TESTOUT) && mkdir -p $(TESTOUT)
	$(GOTESTSUM) -count=1 -timeout 30m -artifacts -outputdir $(TESTOUT) ./e2e/

bench: deps tools
	$(GO) test -run '^$$' -bench . -benchtime 20x -timeout 60m ./bench/ ./audit/

# Run every fuzzer for FUZZTIME each (plain `go test` runs their seeds);
# `make test` gives each TEST_FUZZTIME.
FUZZTIME ?= 30s
TEST_FUZZTIME ?= 5s
# How long a new interesting input is minimised: short runs spend their
# time fuzzing instead.
FUZZMINIMIZETIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg || exit 1; \
	  done; \
	done

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.6.1 ./...

clean:
	rm -rf bin .cache
