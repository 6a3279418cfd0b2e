"""Semantic checks of every deployment form (make deploy-check runs this; so do unit tests).

    python scripts/manifest_semantics.py [--kustomize "kubectl kustomize"] [--write DIR]

Renders every kustomize overlay and each optional component over dev (in a copy of k8s/,
with throwaway dev credentials from scripts/dev_secrets.py), merges every compose file
combination, and checks what they mean rather than their schema: see k8s_semantics,
compose_semantics and container_checks. Also refuses credentials committed to the
repository. `--write` keeps the rendered manifests (for validate_manifests.py).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from compose_semantics import compose_errors, read_env_file  # noqa: E402
from container_checks import credential_errors  # noqa: E402
from deploy_facts import ROOT  # noqa: E402
from dev_secrets import write_dev_secrets  # noqa: E402
from k8s_semantics import k8s_errors  # noqa: E402

from storage.jobs import Queue  # noqa: E402

COMPOSE_FORMS = {
    "compose": ["compose.yaml"],
    "compose+cpu": ["compose.yaml", "compose.cpu.yaml"],
}
# TensorRT needs the GPU component under it.
COMPONENT_NEEDS = {"tensorrt": ["gpu"]}


def kustomize_command() -> list[str]:
    if os.environ.get("KUSTOMIZE"):
        return shlex.split(os.environ["KUSTOMIZE"])
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    for kubectl in (shutil.which("kubectl"), str(ROOT / ".tools" / "bin" / "kubectl")):
        if kubectl and Path(kubectl).is_file():
            return [kubectl, "kustomize"]
    raise SystemExit("no kustomize: run scripts/check-deploy.sh once (it installs kubectl)")


def k8s_targets(tree: Path) -> dict[str, Path]:
    """Form name -> kustomization directory, inside `tree` (a copy of k8s/)."""
    targets = {
        "k8s/base": tree / "base",
        "k8s/overlays/dev": tree / "overlays" / "dev",
        "k8s/overlays/prod": tree / "overlays" / "prod",
    }
    for component in sorted((tree / "components").iterdir()):
        folder = tree / "combinations" / f"dev-{component.name}"
        folder.mkdir(parents=True)
        parts = [*COMPONENT_NEEDS.get(component.name, []), component.name]
        (folder / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": ["../../overlays/dev"],
                    "components": [f"../../components/{part}" for part in parts],
                }
            )
        )
        targets[f"k8s/overlays/dev+{'+'.join(parts)}"] = folder
    return targets


def render_k8s(kustomize: list[str]) -> dict[str, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as work:
        tree = Path(work) / "k8s"
        shutil.copytree(ROOT / "k8s", tree, ignore=shutil.ignore_patterns("generated"))
        write_dev_secrets(tree / "overlays" / "dev" / "generated")
        rendered = {}
        for form, folder in k8s_targets(tree).items():
            result = subprocess.run(
                [*kustomize, str(folder)], capture_output=True, text=True, check=False
            )
            if result.returncode:
                raise SystemExit(f"{form}: kustomize failed: {result.stderr.strip()}")
            rendered[form] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return rendered


def external_secrets(form: str) -> dict[str, dict[str, str]]:
    """Secrets an overlay expects to exist, from its <name>.env.example templates."""
    overlay = ROOT / form.split("+")[0]
    if not overlay.is_dir():
        return {}
    return {
        path.name.removesuffix(".env.example"): read_env_file(path.read_text())
        for path in overlay.glob("*.env.example")
    }


def _tracked(paths: list[Path]) -> set[Path]:
    """Which of `paths` git tracks (all of them when there is no git checkout)."""
    if not paths:
        return set()
    result = subprocess.run(
        ["git", "ls-files", "-z", "--", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        return set(paths)
    return {ROOT / name for name in result.stdout.split("\0") if name}


def committed_credential_errors(root: Path) -> list[str]:
    """Credentials in the repository's Kubernetes sources: secretGenerator literals or
    committed env files, Secret objects with data, credential values in committed env files."""
    errors = []
    env_sources: list[Path] = []
    for path in sorted(root.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            name = path.relative_to(root.parent)
            if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
                errors.append(f"{name}: Secret/{doc['metadata']['name']} holds values")
            for generator in doc.get("secretGenerator", []):
                errors += [
                    f"{name}: secretGenerator {generator['name']} has a literal value"
                    for literal in generator.get("literals", [])
                    if literal.partition("=")[2]
                ]
                sources = generator.get("envs", []) + generator.get("files", [])
                env_sources += [path.parent / source.split("=")[-1] for source in sources]
    for source in sorted(_tracked(env_sources) & set(env_sources)):
        errors.append(f"{source.relative_to(root.parent)}: a Secret's source file is committed")
    for path in sorted(_tracked(sorted(root.rglob("*.env*")))):
        for key, value in read_env_file(path.read_text()).items():
            errors += credential_errors(key, value, str(path.relative_to(root.parent)))
    return errors


def all_errors(kustomize: list[str], write: Path | None = None) -> tuple[list[str], int]:
    rendered = render_k8s(kustomize)
    if write is not None:
        write.mkdir(parents=True, exist_ok=True)
        for form, docs in rendered.items():
            name = form.replace("/", "_").replace("+", "_") + ".yaml"
            (write / name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    errors = committed_credential_errors(ROOT / "k8s")
    for form, docs in rendered.items():
        if form != "k8s/base":  # base alone has no datastores and no Secrets: not a deployment
            errors += k8s_errors(form, docs, external_secrets(form))
    queues = [queue.value for queue in Queue]
    for form, files in COMPOSE_FORMS.items():
        paths = [ROOT / name for name in files]
        errors += compose_errors(form, paths, ROOT / ".env.example", queues, set())
    return errors, len(rendered) + len(COMPOSE_FORMS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kustomize", help="the render command, e.g. 'kustomize build'")
    parser.add_argument("--write", type=Path, help="keep the rendered manifests here")
    args = parser.parse_args(argv)
    kustomize = shlex.split(args.kustomize) if args.kustomize else kustomize_command()
    errors, forms = all_errors(kustomize, args.write)
    for error in errors:
        print(f"ERROR {error}")
    print(f"semantics: {forms} deployment forms checked, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
