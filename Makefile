# opsmesh — agentic operations for Kubernetes.
#   make test      verify generated code, lint, build the Kubernetes test binaries if missing, run all tests
#   make test-sandbox  bring the sandbox up (building its binaries the first time), check it, tear it down
#   make demo      bring the sandbox up (a local control plane with simulated GPU nodes) and run the demo on it
#   make demo-down stop the sandbox
#   make eval      run the incident benchmark (evals/scenarios) on the sandbox with the runbook engine; writes evals/RESULTS.md
#   make build     build bin/opsmesh
#   make install-plugin  install opsmesh into $(go env GOPATH)/bin with the kubectl-opsmesh link (kubectl opsmesh ...)
#   make generate  regenerate deepcopy code and CRD YAML (deploy/crds) from api/
#   make lint      gofmt and go vet
#   make image     build the container image (docker or podman; IMAGE=ghcr.io/opsmesh/opsmesh:<version>)
#   make image-build-check  run the Dockerfile's build stage as ordinary commands (no engine needed)
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN           := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
VERSION       ?= $(shell git describe --tags --dirty 2>/dev/null || echo dev)
COMMIT        ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS       := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GO_TEST_FLAGS ?= -race -count=1
IMAGE         ?= ghcr.io/opsmesh/opsmesh:$(VERSION)
CONTAINER_ENGINE ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
# go-nvml's header marks many NVML calls deprecated; gcc would print hundreds of warnings about
# calls opsmesh never makes.
CGO_CFLAGS    ?= -O2 -g -Wno-deprecated-declarations
export CGO_CFLAGS

.PHONY: all build install-plugin test test-sandbox generate verify-generated lint testbins tsclient-deps sandbox-bins image image-build-check demo demo-down eval clean help

all: build

help:
	@sed -n 's/^#   //p' Makefile

build:
	go build -ldflags "$(LDFLAGS)" -o $(BIN)/opsmesh ./cmd/opsmesh

# install-plugin installs opsmesh on PATH (go install) and links kubectl-opsmesh to it, so
# `kubectl opsmesh ...` runs it as a kubectl plugin.
install-plugin:
	go install -ldflags "$(LDFLAGS)" ./cmd/opsmesh
	gobin=$$(go env GOBIN); gobin=$${gobin:-$$(go env GOPATH)/bin}; \
	ln -sf opsmesh "$$gobin/kubectl-opsmesh"; \
	echo "installed $$gobin/opsmesh and $$gobin/kubectl-opsmesh; with $$gobin on PATH, run: kubectl opsmesh --help"

# controller-gen is pinned in hack/tools/go.mod and built once into bin/.
$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	go build -C hack/tools -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

generate: $(CONTROLLER_GEN)
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/generate.sh .

# verify-generated regenerates into a scratch copy and fails when the checked-in files differ.
verify-generated: $(CONTROLLER_GEN)
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify-generated.sh

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt: these files need formatting (run gofmt -w .):"; echo "$$out"; exit 1; fi
	go vet ./...
	@# Without cgo (no C compiler, no NVML) everything but the GPU node agent's NVML code must build.
	CGO_ENABLED=0 go vet ./...

# testbins builds kube-apiserver, etcd and prometheus, and helm for the chart tests, from their Go
# modules into ~/.cache/opsmesh (once; helm takes about 7 minutes the first time on 2 busy cores).
testbins:
	hack/testbins.sh ensure >/dev/null
	TESTBINS=helm hack/testbins.sh ensure >/dev/null

# image builds the Dockerfile with docker or podman (CONTAINER_ENGINE=... to choose); it fails,
# saying so, when neither is installed or the one found has no running engine behind it.
image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
	  echo "make image: no container engine: neither docker nor podman is on PATH. Install one, or set CONTAINER_ENGINE." >&2; \
	  echo "Without one, make image-build-check runs the Dockerfile's build stage as ordinary commands." >&2; \
	  exit 1; \
	fi
	@if ! $(CONTAINER_ENGINE) info >/dev/null 2>&1; then \
	  echo "make image: $(CONTAINER_ENGINE) is installed but no container engine answers ('$(CONTAINER_ENGINE) info' fails): start its daemon or service, or set CONTAINER_ENGINE." >&2; \
	  echo "Without one, make image-build-check runs the Dockerfile's build stage as ordinary commands." >&2; \
	  exit 1; \
	fi
	$(CONTAINER_ENGINE) build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

# image-build-check runs the Dockerfile's build-stage RUN lines here as ordinary go build: a
# non-race cgo build of ./cmd/opsmesh (8-9 minutes cold on a busy 2-core machine, seconds warm).
image-build-check:
	hack/image-build-check.sh

# tsclient-deps installs the stock TypeScript MCP SDK client and Ajv (pinned in
# test/mcpclient-ts/package-lock.json) for the test that drives opsmesh's MCP servers with it;
# without node that test is skipped, and so is this step.
tsclient-deps:
	@if ! command -v node >/dev/null 2>&1; then \
	  echo "tsclient-deps: node is not on PATH: skipping npm ci in test/mcpclient-ts (the TypeScript MCP client test will be skipped)"; \
	elif [ ! -d test/mcpclient-ts/node_modules/@modelcontextprotocol/sdk ] || [ test/mcpclient-ts/package-lock.json -nt test/mcpclient-ts/node_modules/.package-lock.json ]; then \
	  cd test/mcpclient-ts && npm ci --no-audit --no-fund; \
	fi

test: verify-generated lint testbins tsclient-deps image-build-check
	CONTROLLER_GEN=$(CONTROLLER_GEN) KUBEBUILDER_ASSETS=$$(hack/testbins.sh path) HELM=$$(hack/testbins.sh helm-path) go test $(GO_TEST_FLAGS) ./...
	# kwok's own selector and template code plays the sandbox's stages (a module of its own: kwok
	# builds against other Kubernetes libraries than opsmesh).
	cd sandbox/stagetest && go test $(GO_TEST_FLAGS) ./...

# sandbox-bins builds what the sandbox runs: etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok (once).
sandbox-bins:
	hack/testbins.sh ensure-sandbox >/dev/null

# test-sandbox runs the sandbox end to end (sandbox, build tag sandbox): about a minute once the binaries are built.
test-sandbox: sandbox-bins testbins
	HELM=$$(hack/testbins.sh helm-path) go test -tags sandbox -count=1 -timeout 30m ./sandbox

# demo brings the sandbox up (building its binaries the first time: about 15 minutes on 2 cores;
# reused while it runs), runs the demo on it, and leaves it running for kubectl and chat clients.
demo: build sandbox-bins
	@$(BIN)/opsmesh sandbox status >/dev/null 2>&1 || $(BIN)/opsmesh sandbox up
	$(BIN)/opsmesh demo
	@echo
	@echo "The sandbox keeps running (bin/opsmesh sandbox status says how to reach it with kubectl and an MCP client)."
	@echo "Stop it with: make demo-down   (or bin/opsmesh sandbox down)"

# eval runs the incident benchmark on the sandbox (brought up if it is not running, and left
# running) with the runbook engine, prints the table, regenerates evals/RESULTS.md and fails when
# the runbook engine's targets are not met. EVAL_FLAGS adds flags (--repeat 3, --scenarios DIR).
EVAL_FLAGS ?=
eval: build sandbox-bins
	@$(BIN)/opsmesh sandbox status >/dev/null 2>&1 || $(BIN)/opsmesh sandbox up
	$(BIN)/opsmesh eval --json $(BIN)/eval-results.json --markdown evals/RESULTS.md --targets $(EVAL_FLAGS)
	@echo "Results: evals/RESULTS.md (and $(BIN)/eval-results.json). The sandbox keeps running; stop it with make demo-down."

# demo-down stops the sandbox and every process it started.
demo-down:
	$(BIN)/opsmesh sandbox down

clean:
	rm -rf $(BIN)
