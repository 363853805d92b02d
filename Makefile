# opsmesh — agentic operations for Kubernetes.
#   make test      verify generated code, lint, build the Kubernetes test binaries if missing, run all tests
#   make demo      run the demo (arrives with the sandbox)
#   make build     build bin/opsmesh
#   make install-plugin  install opsmesh into $(go env GOPATH)/bin with the kubectl-opsmesh link (kubectl opsmesh ...)
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

.PHONY: all build install-plugin test generate verify-generated lint testbins demo clean help

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

# testbins builds kube-apiserver, etcd and prometheus from their Go modules into ~/.cache/opsmesh (once).
testbins:
	hack/testbins.sh ensure >/dev/null

test: verify-generated lint testbins
	CONTROLLER_GEN=$(CONTROLLER_GEN) KUBEBUILDER_ASSETS=$$(hack/testbins.sh path) go test $(GO_TEST_FLAGS) ./...

demo:
	@echo "opsmesh demo: not yet. The demo runs on the sandbox (a local control plane with simulated"
	@echo "GPU nodes), which has not landed. Today you can run 'make test' to see the API validated"
	@echo "against a real kube-apiserver and etcd."
	@exit 1

clean:
	rm -rf $(BIN)
