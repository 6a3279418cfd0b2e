"""Each fault operation, on each kind of server: which call it becomes.

Containers are recorded at the Docker SDK's object (what testcontainers' `get_wrapped_container`
returns); local stand-ins are real processes. A container's `failing` model is checked with
ONNX Runtime: it loads, and every request fails.
"""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]  # no stubs installed
from tritonclient.grpc import model_config_pb2

from devstack.process import ServerError, ServiceProcess
from devstack.servers import TritonServer
from model_repository.local import MODEL_NAME, detector_config, write_config
from model_repository.production import served_config
from tests.servers.containers import ContainerServer
from tests.servers.control import ContainerControl, ProcessControl
from tests.servers.factory import discard, server_control
from tests.servers.model_faults import GATHER_OUT_OF_BOUNDS, fail_model, failing_override
from tests.servers.triton import TritonContainerServer


class RecordingContainer:
    """docker-py's `Container`, as far as the fault operations use it."""

    def __init__(self, status: str = "running") -> None:
        self.status = status
        self.calls: list[tuple[str, dict[str, object]]] = []

    def start(self) -> None:
        self.calls.append(("start", {}))

    def stop(self, *, timeout: int) -> None:
        self.calls.append(("stop", {"timeout": timeout}))

    def kill(self) -> None:
        self.calls.append(("kill", {}))

    def pause(self) -> None:
        self.calls.append(("pause", {}))

    def unpause(self) -> None:
        self.calls.append(("unpause", {}))

    def reload(self) -> None:
        self.calls.append(("reload", {}))

    def logs(self, *, tail: int) -> bytes:
        return b"E0101 model load failed\n"


class RecordedServer(ContainerServer):
    """A container server whose Docker object is the recording one (nothing is started)."""

    stop_timeout_s = 7

    def __init__(self, container: RecordingContainer, ready: bool = True) -> None:
        super().__init__("recorded")
        self.container = container
        self.ready = ready

    def build(self) -> object:  # type: ignore[override]  # never called here
        raise AssertionError("a recorded server is never built")

    @property
    def started(self) -> bool:
        return True

    def wrapped(self) -> RecordingContainer:
        return self.container

    def is_ready(self) -> bool:
        return self.ready


OPERATIONS = {
    "kill": ("kill", {}),
    "stop": ("stop", {"timeout": 7}),
    "start": ("start", {}),
    "pause": ("pause", {}),
    "unpause": ("unpause", {}),
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_each_operation_is_one_docker_call(operation: str) -> None:
    container = RecordingContainer()
    server = RecordedServer(container)
    control = server_control(server)
    assert isinstance(control, ContainerControl)
    getattr(control, operation)()
    getattr(server, operation)()  # the server's own methods go the same way
    assert container.calls == [OPERATIONS[operation]] * 2


def test_ready_after_a_look_at_the_container() -> None:
    container = RecordingContainer()
    RecordedServer(container).wait_ready(timeout_s=1)
    assert container.calls == [("reload", {})]


@pytest.mark.parametrize("status", ["exited", "dead"])
def test_a_stopped_container_fails_the_wait_with_its_log(status: str) -> None:
    server = RecordedServer(RecordingContainer(status), ready=False)
    with pytest.raises(ServerError, match=rf"recorded container is {status}(.|\n)*load failed"):
        server.wait_ready(timeout_s=30)


def test_a_container_that_never_answers_times_out() -> None:
    server = RecordedServer(RecordingContainer(), ready=False)
    with pytest.raises(ServerError, match=r"not ready after 0\.3s"):
        server.wait_ready(timeout_s=0.3)


def test_an_unstarted_container_has_no_operations() -> None:
    triton = TritonContainerServer(Path("/nonexistent"), gpu=False)
    with pytest.raises(ServerError, match="triton was not started"):
        triton.kill()
    discard(triton)  # nothing to remove: no error


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_local_process_is_signalled(tmp_path: Path) -> None:
    process = ServiceProcess(
        "sleeper",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        log_path=tmp_path / "sleeper.log",
        ready=lambda _process: True,
    )
    control = server_control(process)
    assert isinstance(control, ProcessControl)
    with process:
        pid = process.pid
        assert pid is not None
        control.pause()
        assert _state(pid) == "T"
        control.unpause()
        assert _state(pid) in {"S", "R"}
        control.kill()
        assert not process.running
        control.start()
        control.wait_ready()
        assert process.running
        assert process.pid != pid
        control.stop()
        assert not process.running
        control.start()
    discard(process)
    assert not process.running


def test_pausing_a_stopped_process_is_an_error(tmp_path: Path) -> None:
    process = ServiceProcess("idle", ["true"], log_path=tmp_path / "idle.log", ready=lambda _: True)
    with pytest.raises(ServerError, match="idle is not running"):
        ProcessControl(process).pause()


def test_a_model_fails_on_a_stand_in_through_its_stubs(tmp_path: Path) -> None:
    triton = TritonServer(tmp_path, tmp_path)  # never started: it has no stubs to kill
    with pytest.raises(AssertionError, match="no Python-backend stub serves"):
        fail_model(triton, MODEL_NAME)


def test_a_failing_model_loads_and_then_fails_every_request(tmp_path: Path) -> None:
    served = served_config(detector_config(MODEL_NAME), device="cpu")
    write_config(tmp_path / MODEL_NAME, served)
    triton = TritonContainerServer(tmp_path, gpu=False)

    config_json, graph = failing_override(triton, MODEL_NAME)

    config = json_format.Parse(config_json, model_config_pb2.ModelConfig())
    expected = model_config_pb2.ModelConfig()
    expected.CopyFrom(served)
    expected.ClearField("model_warmup")  # a failing warmup would fail the load itself
    assert config == expected
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    (tensor,) = session.get_inputs()
    (output,) = session.get_outputs()
    assert (tensor.name, tensor.shape[1:], tensor.type) == ("image", [256, 256, 3], "tensor(uint8)")
    assert (output.name, output.shape[1:], output.type) == ("fake_prob", [1], "tensor(float)")
    for batch in (1, 7, 64):
        images = np.zeros((batch, 256, 256, 3), dtype=np.uint8)
        with pytest.raises(Exception, match=GATHER_OUT_OF_BOUNDS):
            session.run(None, {"image": images})
