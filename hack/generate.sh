#!/usr/bin/env bash
# generate.sh DIR — runs controller-gen over DIR (a checkout, or a scratch copy of one): deepcopy
# methods next to the API types, and CRD YAML into DIR/deploy/crds, copied byte for byte into the
# Helm chart's crds/ (deploy/helm/opsmesh/crds; the chart test fails when they differ). One definition of what is
# generated, used by `make generate` and by verify-generated.sh.
set -euo pipefail
dir=${1:?usage: hack/generate.sh DIR}
gen=${CONTROLLER_GEN:?CONTROLLER_GEN must point at the controller-gen binary (make generate sets it)}
cd "$dir"
"$gen" object paths=./api/...
rm -f deploy/crds/*.yaml
"$gen" crd paths=./api/... output:crd:artifacts:config=deploy/crds
if [ -d deploy/helm/opsmesh ]; then
  mkdir -p deploy/helm/opsmesh/crds
  rm -f deploy/helm/opsmesh/crds/*.yaml
  cp deploy/crds/*.yaml deploy/helm/opsmesh/crds/
fi
