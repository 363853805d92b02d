# opsmesh — agentic operations for Kubernetes.
#   make test      verify generated code, lint, build the Kubernetes test binaries if missing, run all tests
#   make test-sandbox  bring the sandbox up (building its binaries the first time), check it, tear it down
#   make demo      run the demo (arrives with the sandbox)
#   make build     build bin/opsmesh
#   make generate  regenerate deepcopy code and CRD YAML (deploy/crds) from api/
#   make lint      gofmt and go vet
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN           := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
VERSION       ?= $(shell git describe --tags --dirty 2>/dev/null || echo dev)
COMMIT        ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS       := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GO_TEST_FLAGS ?= -race -count=1
# go-nvml's header marks many NVML calls deprecated; gcc would print hundreds of warnings about
# calls opsmesh never makes.
CGO_CFLAGS    ?= -O2 -g -Wno-deprecated-declarations
export CGO_CFLAGS

.PHONY: all build test test-sandbox generate verify-generated lint testbins sandbox-bins demo clean help

all: build

help:
	@sed -n 's/^#   //p' Makefile

build:
	go build -ldflags "$(LDFLAGS)" -o $(BIN)/opsmesh ./cmd/opsmesh

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

# testbins builds kube-apiserver, etcd and prometheus from their Go modules into ~/.cache/opsmesh (once).
testbins:
	hack/testbins.sh ensure >/dev/null

test: verify-generated lint testbins
	CONTROLLER_GEN=$(CONTROLLER_GEN) KUBEBUILDER_ASSETS=$$(hack/testbins.sh path) go test $(GO_TEST_FLAGS) ./...

# sandbox-bins builds what the sandbox runs: etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok (once).
sandbox-bins:
	hack/testbins.sh ensure-sandbox >/dev/null

# test-sandbox runs the sandbox end to end (internal/sandbox, build tag sandbox): about a minute once the binaries are built.
test-sandbox: sandbox-bins
	go test -tags sandbox -count=1 -timeout 30m ./internal/sandbox/...

demo:
	@echo "opsmesh demo: not yet. The demo runs on the sandbox (a local control plane with simulated"
	@echo "GPU nodes), which has not landed. Today you can run 'make test' to see the API validated"
	@echo "against a real kube-apiserver and etcd."
	@exit 1

clean:
	rm -rf $(BIN)
