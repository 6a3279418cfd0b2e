"""Write the dev overlay's throwaway credentials (make kind-up), never committed.

    python scripts/dev_secrets.py k8s/overlays/dev/generated

Each file is one Secret of k8s/overlays/dev (its secretGenerator reads them). Random values,
written once: files that exist are kept, so the passwords keep matching the datastores'
volumes across `make kind-up` runs. Delete the folder (and the cluster) to start over.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path


def _password() -> str:
    # URL-safe: it goes into mongodb:// and redis:// URLs as is.
    return secrets.token_urlsafe(24)


def dev_secrets() -> dict[str, dict[str, str]]:
    """The files' contents: file stem -> variables."""
    mongo, redis, minio = _password(), _password(), _password()
    mongo_url = f"mongodb://deepfake:{mongo}@mongo:27017/?authSource=admin"
    broker_url = f"redis://:{redis}@redis:6379/0"
    shared: dict[str, str] = {}
    for prefix in ("GATEWAY", "WORKER"):
        shared |= {
            f"{prefix}_MONGO__URL": mongo_url,
            f"{prefix}_CELERY__BROKER_URL": broker_url,
            f"{prefix}_OBJECT_STORE__ACCESS_KEY": "deepfake",
            f"{prefix}_OBJECT_STORE__SECRET_KEY": minio,
        }
    # KEDA's Redis scaler (components/keda): the broker's address, password and TLS.
    shared |= {"REDIS_ADDRESS": "redis:6379", "REDIS_PASSWORD": redis, "REDIS_TLS": "disable"}
    admin_key = f"dfk_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    return {
        "deepfake-secrets": shared,
        "gateway-secrets": {"GATEWAY_AUTH__BOOTSTRAP_ADMIN_KEY": admin_key},
        "minio-root": {"MINIO_ROOT_USER": "deepfake", "MINIO_ROOT_PASSWORD": minio},
        "mongo-root": {
            "MONGO_INITDB_ROOT_USERNAME": "deepfake",
            "MONGO_INITDB_ROOT_PASSWORD": mongo,
        },
        "redis-auth": {"REDIS_PASSWORD": redis, "REDISCLI_AUTH": redis},
    }


def write_dev_secrets(folder: Path) -> list[Path]:
    """Writes the files unless all of them exist; returns the ones written."""
    files = dev_secrets()
    paths = {stem: folder / f"{stem}.env" for stem in files}
    if all(path.exists() for path in paths.values()):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    for stem, path in paths.items():
        path.write_text("".join(f"{key}={value}\n" for key, value in files[stem].items()))
        path.chmod(0o600)
    return list(paths.values())


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    written = write_dev_secrets(Path(argv[0]))
    print(f"wrote {len(written)} files" if written else f"kept the files in {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
