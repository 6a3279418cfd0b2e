#!/usr/bin/env bash
# The service on a local kind cluster, tested end to end through its gateway (make kind-e2e; the
# kind job of .github/workflows/ci.yml):
#   1. make kind-up: the three images built and loaded, the cluster created, the dev overlay
#      applied with throwaway credentials (k8s/overlays/dev/generated/);
#   2. the dev overlay again with the e2e fixtures (k8s/e2e: a sidecar in each worker pod that
#      serves the sample crops and records webhooks on 127.0.0.1:8099);
#   3. every workload rolled out, the gateway and the webhooks worker's sidecar port-forwarded;
#   4. tests/cluster against them: the sample crops and their verdicts, a crop by URL, a batch,
#      a signed webhook delivered inside the cluster, and /readyz naming each model's provider.
# Needs Docker, kind and kubectl, and the dev environment (make install). On failure it prints
# the pods, events and recent logs. KIND_CLUSTER names the cluster (deepfake-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
KIND_CLUSTER=${KIND_CLUSTER:-deepfake-dev}
NAMESPACE=deepfake-dev
SAMPLES=${MESONET_WEIGHTS_DIR:-../shared/models/mesonet}/samples
GATEWAY_PORT=${GATEWAY_PORT:-18080}
FIXTURES_PORT=${FIXTURES_PORT:-18099}
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-15m}
# Outside k8s/ (kustomize refuses an overlay inside the one it builds on); .local/ is ignored.
overlay=.local/kind-e2e
kubectl=(kubectl --context "kind-$KIND_CLUSTER")
forwards=()

diagnose() {
    echo "--- pods, events and logs in $NAMESPACE" >&2
    "${kubectl[@]}" -n "$NAMESPACE" get pods -o wide >&2 || true
    "${kubectl[@]}" -n "$NAMESPACE" get events --sort-by=.lastTimestamp >&2 || true
    local pod
    for pod in $("${kubectl[@]}" -n "$NAMESPACE" get pods -o name 2>/dev/null); do
        echo "--- $pod" >&2
        "${kubectl[@]}" -n "$NAMESPACE" logs "$pod" --all-containers --tail=60 >&2 || true
    done
}

finish() {
    local status=$?
    if ((${#forwards[@]})); then
        kill "${forwards[@]}" 2>/dev/null || true
    fi
    ((status == 0)) || diagnose
    exit "$status"
}
trap finish EXIT

make kind-up KIND_CLUSTER="$KIND_CLUSTER"

# The e2e overlay: dev, the fixtures component, and the ConfigMap of what the sidecar serves.
rm -rf "$overlay"
mkdir -p "$overlay"
cp scripts/e2e_fixture_server.py "$SAMPLES"/*/*.jpg "$overlay"/
{
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "namespace: $NAMESPACE"
    echo "resources: [../../k8s/overlays/dev]"
    echo "components: [../../k8s/e2e]"
    echo "configMapGenerator:"
    echo "  - name: e2e-fixtures"
    echo "    files:"
    for file in "$overlay"/*.py "$overlay"/*.jpg; do
        echo "      - $(basename "$file")"
    done
} >"$overlay/kustomization.yaml"
"${kubectl[@]}" apply -k "$overlay"

"${kubectl[@]}" -n "$NAMESPACE" wait --for=condition=complete job --all --timeout="$ROLLOUT_TIMEOUT"
for workload in $("${kubectl[@]}" -n "$NAMESPACE" get deployments,statefulsets -o name); do
    "${kubectl[@]}" -n "$NAMESPACE" rollout status "$workload" --timeout="$ROLLOUT_TIMEOUT"
done

"${kubectl[@]}" -n "$NAMESPACE" port-forward svc/gateway "$GATEWAY_PORT:80" >/dev/null &
forwards+=($!)
"${kubectl[@]}" -n "$NAMESPACE" port-forward deployment/worker-webhooks "$FIXTURES_PORT:8099" \
    >/dev/null &
forwards+=($!)
for url in "http://127.0.0.1:$GATEWAY_PORT/healthz" "http://127.0.0.1:$FIXTURES_PORT/healthz"; do
    for _ in $(seq 60); do
        curl -fsS -o /dev/null "$url" && break
        sleep 1
    done
    curl -fsS -o /dev/null "$url"
done

admin_key=$(sed -n 's/^GATEWAY_AUTH__BOOTSTRAP_ADMIN_KEY=//p' k8s/overlays/dev/generated/gateway-secrets.env)
DEEPFAKE_CLUSTER_GATEWAY="http://127.0.0.1:$GATEWAY_PORT" \
    DEEPFAKE_CLUSTER_ADMIN_KEY="$admin_key" \
    DEEPFAKE_CLUSTER_FIXTURES="http://127.0.0.1:$FIXTURES_PORT" \
    "$VENV/bin/python" -m pytest tests/cluster -v
