"""The `deepfake` command (needs the `cli` extra: `pip install 'deepfake-client[cli]'`)."""

import sys

_CLI_PACKAGES = {"rich", "typer", "click"}


def main(argv: list[str] | None = None) -> int:
    try:
        from deepfake_client.cli.app import run
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in _CLI_PACKAGES:
            raise
        print(
            "the deepfake command needs the cli extra: pip install 'deepfake-client[cli]'",
            file=sys.stderr,
        )
        return 2
    return run(argv)
