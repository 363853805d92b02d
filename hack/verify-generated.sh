#!/usr/bin/env bash
# verify-generated.sh — fails when the checked-in generated files (api/**/zz_generated.*.go and
# deploy/crds/*.yaml) differ from what `make generate` produces now. It generates into a scratch
# copy, so it never changes your working tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

mkdir -p "$scratch/deploy" "$scratch/hack"
cp "$root/go.mod" "$root/go.sum" "$scratch/"
cp -r "$root/api" "$scratch/api"
cp -r "$root/deploy/crds" "$scratch/deploy/crds"
"$root/hack/generate.sh" "$scratch"

stale=0
for d in api deploy/crds; do
  if ! diff -r -u "$root/$d" "$scratch/$d" >"$scratch/diff.txt" 2>&1; then
    stale=1
    sed "s#$scratch/##; s#$root/##" "$scratch/diff.txt" | head -n 60 >&2
  fi
done
if [ "$stale" -ne 0 ]; then
  echo >&2
  echo "generated files are stale: the API types in api/ changed but deepcopy code or CRD YAML was not" >&2
  echo "regenerated. Run 'make generate' and commit the result." >&2
  exit 1
fi
echo "generated files are up to date"
