#!/usr/bin/env bash
# rss-controller.sh REPO — development only: the resident memory of the sandbox's
# `opsmesh controller --runtime` (built from the clone REPO) before and after its builtin servers
# ran analyze and explain_pending over a namespace of 5,000 pods (opsmesh diagnose of a pending
# GPU pod). Needs the sandbox's binaries (make sandbox-bins) and kubectl.
set -euo pipefail
REPO=$(cd "$1" && pwd); cd "$REPO"
WORK=$(mktemp -d)
# Run it on two clones (before and after a change) to compare; it leaves no sandbox running.
export CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"
make build >/dev/null
BIN=$REPO/bin/opsmesh
$BIN sandbox up >$WORK/up.log 2>&1
export KUBECONFIG=$HOME/.cache/opsmesh/sandbox/kubeconfig
STATE=$HOME/.cache/opsmesh/sandbox/state.json
NATS=$(python3 -c "import json;print(json.load(open('$STATE'))['natsURL'])" 2>/dev/null || true)
kubectl create namespace rss >/dev/null
python3 - <<'PY' > $WORK/pods.yaml
import json
items=[{"apiVersion":"v1","kind":"Pod","metadata":{"name":f"p-{i}","namespace":"rss","labels":{"app":"filler"}},
 "spec":{"schedulerName":"not-scheduled","containers":[{"name":"c","image":"busybox","resources":{"requests":{"cpu":"10m"}}}]}} for i in range(5000)]
print(json.dumps({"apiVersion":"v1","kind":"List","items":items}))
PY
kubectl apply --server-side -f $WORK/pods.yaml >/dev/null
kubectl -n rss run big-train --image=busybox --restart=Never --overrides='{"spec":{"containers":[{"name":"big-train","image":"busybox","resources":{"limits":{"nvidia.com/gpu":"16"}}}]}}' >/dev/null
sleep 10
PID=$(pgrep -f 'opsmesh controller' | head -1)
before=$(grep VmRSS /proc/$PID/status)
$BIN diagnose pod/big-train -n rss --nats-url "$NATS" --timeout 3m > $WORK/diagnose.txt 2>&1 || true
sleep 5
after=$(grep VmRSS /proc/$PID/status); hwm=$(grep VmHWM /proc/$PID/status)
echo "repo=$REPO commit=$(git -C $REPO rev-parse --short HEAD) pid=$PID before:[$before] after:[$after] peak:[$hwm]"
head -3 $WORK/diagnose.txt
$BIN sandbox down >/dev/null 2>&1
