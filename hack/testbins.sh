#!/usr/bin/env bash
# testbins.sh — builds the test binaries, from their Go modules through the Go module proxy, into a
# per-user cache outside the repository: the Kubernetes ones envtest needs (kube-apiserver, etcd)
# and Prometheus, which the GPU cluster view's Prometheus/DCGM source is tested against.
#
#   hack/testbins.sh ensure   build what is missing (skips binaries already built), print progress
#   hack/testbins.sh path     print the directory to use as KUBEBUILDER_ASSETS (builds nothing)
#   hack/testbins.sh prometheus-path
#                             print the path of the prometheus binary (builds nothing)
#   hack/testbins.sh helm-path
#                             print the path of the helm binary (builds nothing)
#   hack/testbins.sh check    exit 1, naming the missing binaries, when the cache is incomplete
#   hack/testbins.sh ensure-sandbox
#                             build what the sandbox needs (etcd, kube-apiserver, kube-scheduler,
#                             kube-controller-manager, kwok) when missing, print progress, and print
#                             the Kubernetes binary directory, then the kwok binary's path
#   hack/testbins.sh kwok-path
#                             print the path of the kwok binary (builds nothing)
#
# Versions are pinned below; override with KUBE_VERSION / ETCD_VERSION / PROMETHEUS_VERSION (the
# module version of github.com/prometheus/prometheus: v0.316.0 is Prometheus 3.16.0). The cache root is
# $OPSMESH_CACHE (default: ${XDG_CACHE_HOME:-$HOME/.cache}/opsmesh). Extra control-plane binaries
# for the sandbox (kube-scheduler, kube-controller-manager, kwok) can be asked for with
# TESTBINS="kube-apiserver etcd kube-scheduler"; KWOK_VERSION pins sigs.k8s.io/kwok.
# helm (HELM_VERSION, the chart tests' helm, built from helm.sh/helm/v3) is not in the default set:
# `make test` asks for it with TESTBINS=helm.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.0}
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
CACHE_ROOT=${OPSMESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/opsmesh}
BIN_DIR="$CACHE_ROOT/k8s/$KUBE_VERSION"
SRC_DIR="$CACHE_ROOT/k8s/src"
PROM_DIR="$CACHE_ROOT/prometheus/$PROMETHEUS_VERSION"
KWOK_DIR="$CACHE_ROOT/kwok/$KWOK_VERSION"
HELM_DIR="$CACHE_ROOT/helm/$HELM_VERSION"
TESTBINS=${TESTBINS:-"kube-apiserver etcd prometheus"}

log() { printf '[testbins] %s\n' "$*" >&2; }

# stamp NAME prints the version a binary must have been built at.
stamp() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    prometheus) echo "$PROMETHEUS_VERSION" ;;
    kwok) echo "$KWOK_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    *) echo "$KUBE_VERSION" ;;
  esac
}

# dir NAME prints the directory a binary is built into.
dir() {
  case "$1" in
    prometheus) echo "$PROM_DIR" ;;
    kwok) echo "$KWOK_DIR" ;;
    helm) echo "$HELM_DIR" ;;
    *) echo "$BIN_DIR" ;;
  esac
}

# present NAME succeeds when the binary exists and was built at the pinned version.
present() {
  local d
  d=$(dir "$1")
  [ -x "$d/$1" ] && [ "$(cat "$d/$1.version" 2>/dev/null)" = "$(stamp "$1")" ]
}

missing() {
  local m=()
  for b in $TESTBINS; do present "$b" || m+=("$b"); done
  echo "${m[@]:-}"
}

# progress reads `go build -v` output (one package per line) and prints a line every 100 packages,
# so a build that takes minutes visibly moves without flooding the terminal.
progress() {
  local what=$1 n=0 start=$SECONDS
  while IFS= read -r line; do
    case "$line" in
      "#"*|*.go:*|"go: "*) printf '%s\n' "$line" >&2 ;;  # compiler and go command errors pass through
      *) n=$((n + 1))
         if [ $((n % 100)) -eq 0 ]; then log "$what: $n packages compiled ($((SECONDS - start))s)"; fi ;;
    esac
  done
  log "$what: $n packages compiled in $((SECONDS - start))s"
}

build_kube() {
  local names=("$@") mod="$SRC_DIR/kubernetes-$KUBE_VERSION"
  mkdir -p "$mod"
  if [ ! -f "$mod/go.sum" ] || [ ! -f "$mod/.ready" ]; then
    log "resolving k8s.io/kubernetes@$KUBE_VERSION through the module proxy (first time only)"
    local gomod
    gomod=$(cd "$mod" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
      | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [ -n "$gomod" ] || { log "could not download k8s.io/kubernetes@$KUBE_VERSION; is GOPROXY reachable?"; exit 1; }
    local staging=${KUBE_VERSION/v1./v0.}
    {
      echo "module opsmesh.dev/testbins/kubernetes"
      echo
      echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      # k8s.io/kubernetes replaces every staging module with a local path; a module that depends on
      # it must pin each of them to the published version of the same release instead.
      sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#replace \1 => \1 '"$staging"'#p' "$gomod"
    } > "$mod/go.mod"
    {
      echo "package main"
      echo
      for n in "${names[@]}"; do echo "import _ \"k8s.io/kubernetes/cmd/$n/app\""; done
    } > "$mod/tools.go"
    (cd "$mod" && GOFLAGS=-mod=mod go mod tidy) >&2
    rm -f "$mod/tools.go"
    touch "$mod/.ready"
  fi
  local ver_pkg=k8s.io/component-base/version
  local ldflags="-s -w -X $ver_pkg.gitVersion=$KUBE_VERSION -X $ver_pkg.gitMajor=1 -X $ver_pkg.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2) -X $ver_pkg.gitTreeState=clean"
  for n in "${names[@]}"; do
    log "building $n $KUBE_VERSION (the first build takes about 12 minutes on 2 cores)"
    (cd "$mod" && GOFLAGS=-mod=mod go build -v -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$n.tmp" "k8s.io/kubernetes/cmd/$n") 2>&1 | progress "$n"
    [ "${PIPESTATUS[0]}" -eq 0 ] || { log "building $n failed"; exit 1; }
    mv "$BIN_DIR/$n.tmp" "$BIN_DIR/$n"
    stamp "$n" > "$BIN_DIR/$n.version"
    log "built $BIN_DIR/$n"
  done
}

build_etcd() {
  local mod="$SRC_DIR/etcd-$ETCD_VERSION"
  mkdir -p "$mod"
  if [ ! -f "$mod/.ready" ]; then
    log "resolving go.etcd.io/etcd/server/v3@$ETCD_VERSION through the module proxy (first time only)"
    cat > "$mod/go.mod" <<MOD
module opsmesh.dev/testbins/etcd

go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
    cat > "$mod/main.go" <<'GO'
// Command etcd is etcd's own server entry point, built from go.etcd.io/etcd/server/v3.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    (cd "$mod" && GOFLAGS=-mod=mod go mod tidy) >&2
    touch "$mod/.ready"
  fi
  log "building etcd $ETCD_VERSION"
  (cd "$mod" && GOFLAGS=-mod=mod go build -v -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd.tmp" .) 2>&1 | progress etcd
  [ "${PIPESTATUS[0]}" -eq 0 ] || { log "building etcd failed"; exit 1; }
  mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
  stamp etcd > "$BIN_DIR/etcd.version"
  log "built $BIN_DIR/etcd"
}

# build_prometheus builds Prometheus's own server command from github.com/prometheus/prometheus,
# with only the file and HTTP service discoveries (-tags remove_all_sd: the tests use static
# targets) and without the web UI's assets (the HTTP API, which is all opsmesh reads, needs none).
build_prometheus() {
  local mod="$SRC_DIR/prometheus-$PROMETHEUS_VERSION"
  mkdir -p "$mod" "$PROM_DIR"
  if [ ! -f "$mod/.ready" ]; then
    log "resolving github.com/prometheus/prometheus@$PROMETHEUS_VERSION through the module proxy (first time only)"
    cat > "$mod/go.mod" <<MOD
module opsmesh.dev/testbins/prometheus

go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')

require github.com/prometheus/prometheus $PROMETHEUS_VERSION
MOD
    # Not `go mod tidy`: it would resolve every service discovery's cloud SDK, which this build leaves out.
    (cd "$mod" && GOFLAGS=-mod=mod go get "github.com/prometheus/prometheus@$PROMETHEUS_VERSION") >&2
    touch "$mod/.ready"
  fi
  log "building prometheus $PROMETHEUS_VERSION (3-13 minutes the first time on 2 cores)"
  (cd "$mod" && GOFLAGS=-mod=mod go build -v -trimpath -tags remove_all_sd -ldflags "-s -w" -o "$PROM_DIR/prometheus.tmp" github.com/prometheus/prometheus/cmd/prometheus) 2>&1 | progress prometheus
  [ "${PIPESTATUS[0]}" -eq 0 ] || { log "building prometheus failed"; exit 1; }
  mv "$PROM_DIR/prometheus.tmp" "$PROM_DIR/prometheus"
  stamp prometheus > "$PROM_DIR/prometheus.version"
  log "built $PROM_DIR/prometheus"
}

# build_kwok builds kwok's own command from sigs.k8s.io/kwok (simulated kubelets for the sandbox),
# in a helper module of its own, as etcd's.
build_kwok() {
  local mod="$SRC_DIR/kwok-$KWOK_VERSION"
  mkdir -p "$mod" "$KWOK_DIR"
  if [ ! -f "$mod/.ready" ]; then
    log "resolving sigs.k8s.io/kwok@$KWOK_VERSION through the module proxy (first time only)"
    cat > "$mod/go.mod" <<MOD
module opsmesh.dev/testbins/kwok

go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')

require sigs.k8s.io/kwok $KWOK_VERSION
MOD
    cat > "$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
GO
    (cd "$mod" && GOFLAGS=-mod=mod go mod tidy) >&2
    touch "$mod/.ready"
  fi
  log "building kwok $KWOK_VERSION (4-8 minutes the first time on 2 cores)"
  (cd "$mod" && GOFLAGS=-mod=mod go build -v -trimpath -ldflags "-s -w" -o "$KWOK_DIR/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok) 2>&1 | progress kwok
  [ "${PIPESTATUS[0]}" -eq 0 ] || { log "building kwok failed"; exit 1; }
  mv "$KWOK_DIR/kwok.tmp" "$KWOK_DIR/kwok"
  stamp kwok > "$KWOK_DIR/kwok.version"
  log "built $KWOK_DIR/kwok"
}

# build_helm builds helm's own command from helm.sh/helm/v3 (the chart tests run its lint and template).
build_helm() {
  local mod="$SRC_DIR/helm-$HELM_VERSION"
  mkdir -p "$mod" "$HELM_DIR"
  if [ ! -f "$mod/.ready" ]; then
    log "resolving helm.sh/helm/v3@$HELM_VERSION through the module proxy (first time only)"
    cat > "$mod/go.mod" <<MOD
module opsmesh.dev/testbins/helm

go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')

require helm.sh/helm/v3 $HELM_VERSION
MOD
    (cd "$mod" && GOFLAGS=-mod=mod go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") >&2
    touch "$mod/.ready"
  fi
  log "building helm $HELM_VERSION (3-7 minutes the first time on 2 cores)"
  # As helm's own Makefile does: the Kubernetes version `helm template` and `helm lint` assume is
  # the one after client-go's v0 (client-go v0.37 → 1.37), not the compiled-in 1.20.
  local kv major minor
  kv=$(cd "$mod" && GOFLAGS=-mod=mod go list -m -f '{{.Version}}' k8s.io/client-go)
  major=$(( $(echo "$kv" | sed 's/^v\([0-9]*\)\..*/\1/') + 1 ))
  minor=$(echo "$kv" | cut -d. -f2)
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
  done
  (cd "$mod" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -v -trimpath -ldflags "$ldflags" -o "$HELM_DIR/helm.tmp" helm.sh/helm/v3/cmd/helm) 2>&1 | progress helm
  [ "${PIPESTATUS[0]}" -eq 0 ] || { log "building helm failed"; exit 1; }
  mv "$HELM_DIR/helm.tmp" "$HELM_DIR/helm"
  stamp helm > "$HELM_DIR/helm.version"
  log "built $HELM_DIR/helm"
}

cmd=${1:-ensure}
if [ "$cmd" = ensure-sandbox ]; then
  TESTBINS="etcd kube-apiserver kube-scheduler kube-controller-manager kwok"
fi
case "$cmd" in
  path) echo "$BIN_DIR" ;;
  prometheus-path) echo "$PROM_DIR/prometheus" ;;
  kwok-path) echo "$KWOK_DIR/kwok" ;;
  helm-path) echo "$HELM_DIR/helm" ;;
  check)
    m=$(missing)
    if [ -n "$m" ]; then
      echo "missing test binaries in $BIN_DIR, $PROM_DIR or $HELM_DIR: $m; build them with: make testbins (or hack/testbins.sh ensure)" >&2
      exit 1
    fi ;;
  ensure|ensure-sandbox)
    m=$(missing)
    if [ -z "$m" ]; then
      log "using cached $TESTBINS"
      echo "$BIN_DIR"
      [ "$cmd" = ensure ] || echo "$KWOK_DIR/kwok"
      exit 0
    fi
    mkdir -p "$BIN_DIR"
    kube=()
    for b in $m; do
      case "$b" in
        etcd) build_etcd ;;
        prometheus) build_prometheus ;;
        kwok) build_kwok ;;
        helm) build_helm ;;
        kube-apiserver|kube-scheduler|kube-controller-manager) kube+=("$b") ;;
        *) log "unknown test binary $b; known: kube-apiserver etcd prometheus kube-scheduler kube-controller-manager kwok helm"; exit 1 ;;
      esac
    done
    [ ${#kube[@]} -eq 0 ] || build_kube "${kube[@]}"
    echo "$BIN_DIR"
    [ "$cmd" = ensure ] || echo "$KWOK_DIR/kwok" ;;
  *) echo "usage: hack/testbins.sh ensure|ensure-sandbox|path|kwok-path|prometheus-path|helm-path|check" >&2; exit 2 ;;
esac
