#!/usr/bin/env bash
# image-build-check.sh — runs the Dockerfile's build stage as ordinary commands on this machine,
# where no container engine exists: the stage's ENV and ARG defaults are exported, its WORKDIR is
# the repository root, its /out is a scratch directory, and each RUN line is run as written. So a
# Dockerfile build step that no longer works (a wrong package path, a missing cgo flag, a binary
# that does not start) fails `make test` here instead of at the first `make image`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=${DOCKERFILE:-$root/Dockerfile}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The build stage: from `FROM ... AS build` to the next FROM; continuation lines joined.
stage=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$dockerfile" |
  awk '/^FROM .* AS build$/ {on=1; next} /^FROM / {on=0} on')
[ -n "$stage" ] || { echo "image-build-check: $dockerfile has no 'FROM ... AS build' stage" >&2; exit 1; }

script="set -euo pipefail; cd '$root'"
n=0
while IFS= read -r line; do
  case "$line" in
    "ENV "*) script+="; export ${line#ENV }" ;;
    "ARG "*=*) script+="; export ${line#ARG }" ;;
    "RUN "*)
      cmd=${line#RUN }
      cmd=${cmd//\/out\//$out/}
      script+="; echo '+ ${cmd//\'/}' >&2; $cmd"
      n=$((n + 1)) ;;
  esac
done <<<"$stage"
[ "$n" -gt 0 ] || { echo "image-build-check: the build stage of $dockerfile has no RUN line" >&2; exit 1; }
bash -c "$script"

# The binary must be what the runtime stage expects: built with cgo (go-nvml), for glibc.
bin="$out/opsmesh"
[ -x "$bin" ] || { echo "image-build-check: the build stage did not write /out/opsmesh" >&2; exit 1; }
if ! go version -m "$bin" | grep -q 'CGO_ENABLED=1'; then
  echo "image-build-check: /out/opsmesh was built without cgo; go-nvml needs CGO_ENABLED=1 in the build stage" >&2
  exit 1
fi
echo "image-build-check: the Dockerfile's build stage ($n RUN lines) builds a working cgo opsmesh binary"
