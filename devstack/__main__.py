"""`python -m devstack up`: run the whole service locally until Ctrl-C or SIGTERM."""

import argparse
import logging
import os
import signal
import sys
import time
from dataclasses import fields
from pathlib import Path
from types import FrameType

from devstack.servers import ServerError
from devstack.stack import (
    DEFAULT_WEIGHTS_DIR,
    LOCAL_DEVELOPMENT,
    REPO_ROOT,
    Ports,
    Stack,
    StackConfig,
    StackError,
    port_env,
    port_flag,
)
from model_repository.local_backend.providers import ProviderError, describe

log = logging.getLogger("devstack")


def parse_args(argv: list[str] | None) -> StackConfig:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start every server and wait for Ctrl-C")
    for port in fields(Ports):
        env = port_env(port.name)
        up.add_argument(
            port_flag(port.name),
            dest=port.name,
            metavar="PORT",
            type=int,
            # argparse converts a string default with `type` too.
            default=os.environ.get(env, str(port.default)),
            help=f"(env {env}, default %(default)s)",
        )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=os.environ.get("DEVSTACK_DATA_DIR", str(REPO_ROOT / ".local")),
        help="where data and logs go (env DEVSTACK_DATA_DIR, default %(default)s)",
    )
    up.add_argument(
        "--weights-dir",
        type=Path,
        default=os.environ.get("DEVSTACK_MESONET_WEIGHTS_DIR", str(DEFAULT_WEIGHTS_DIR)),
        help="folder of MesoNet HDF5 weights; missing files are downloaded "
        "(env DEVSTACK_MESONET_WEIGHTS_DIR, default %(default)s)",
    )
    up.add_argument("--worker-concurrency", type=int, default=StackConfig.worker_concurrency)
    args = parser.parse_args(argv)
    ports = Ports(**{port.name: getattr(args, port.name) for port in fields(Ports)})
    return StackConfig(
        root=args.data_dir.resolve(),
        ports=ports,
        weights_dir=args.weights_dir,
        worker_concurrency=args.worker_concurrency,
    )


# The servers run in their own sessions, so a closed terminal (SIGHUP) reaches only us.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # Every stop signal takes Ctrl-C's path, so all stop the servers in the same order.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # Set explicitly: a shell starting us in the background would have SIGINT ignored.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    stack = Stack(config)
    try:
        stack.start()
        print(f"\nAPI:  {stack.gateway_url}\nDocs: {stack.gateway_url}/docs", flush=True)
        print(f"Probes: {stack.gateway_internal_url}/readyz (internal port)", flush=True)
        print(f"Triton: {describe(stack.execution_provider)}", flush=True)
        if LOCAL_DEVELOPMENT["GATEWAY_AUTH__DISABLED"] == "true":
            print("Auth: off for local development (GATEWAY_AUTH__DISABLED=true)", flush=True)
        targets = ", ".join(f"{name} {url}" for name, url in stack.metrics_urls.items())
        print(f"Metrics: {targets}", flush=True)
        print(f"Logs: {stack.log_dir}\nCtrl-C stops everything.\n", flush=True)
        while (dead := stack.first_dead()) is None:
            time.sleep(1)
        log.error("%s exited; see %s", dead.name, dead.log_path)
        return 1
    except KeyboardInterrupt:
        return 0
    except (StackError, ServerError, ProviderError) as error:
        log.error("%s", error)
        return 1
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave servers behind.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
