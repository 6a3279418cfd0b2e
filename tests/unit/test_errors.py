import pytest
from tritonclient.utils import InferenceServerException

from storage.contract import parse_signature
from storage.errors import ErrorCode, PermanentError, TransientError
from worker.inference import to_service_error


@pytest.mark.parametrize(
    ("status", "transient", "code"),
    [
        ("StatusCode.UNAVAILABLE", True, ErrorCode.INFERENCE_UNAVAILABLE),
        ("StatusCode.DEADLINE_EXCEEDED", True, ErrorCode.INFERENCE_UNAVAILABLE),
        (None, True, ErrorCode.INFERENCE_UNAVAILABLE),
        ("StatusCode.INVALID_ARGUMENT", False, ErrorCode.INFERENCE_FAILED),
        ("StatusCode.NOT_FOUND", False, ErrorCode.INFERENCE_FAILED),
    ],
)
def test_triton_errors_are_sorted(status: str | None, transient: bool, code: ErrorCode) -> None:
    error = to_service_error(InferenceServerException("boom", status=status))
    assert error.transient is transient
    assert isinstance(error, TransientError if transient else PermanentError)
    assert error.code is code


def test_error_codes_are_stable_strings() -> None:
    # Clients branch on these: renaming one is a breaking change.
    assert ErrorCode.JOB_NOT_FOUND.value == "job_not_found"
    assert ErrorCode.URL_FORBIDDEN.value == "url_forbidden"
    assert ErrorCode.INFERENCE_UNAVAILABLE.value == "inference_unavailable"
    assert len({code.value for code in ErrorCode}) == len(ErrorCode)


def _metadata(datatype: str = "UINT8", shape: list[int] | None = None) -> dict[str, object]:
    return {
        "name": "deepfake_detector",
        "versions": ["1"],
        "inputs": [{"name": "image", "datatype": datatype, "shape": shape or [-1, 256, 256, 3]}],
        "outputs": [{"name": "fake_prob", "datatype": "FP32", "shape": [-1, 1]}],
    }


def test_model_signature_is_read_from_metadata() -> None:
    signature = parse_signature(_metadata())
    assert (signature.input_name, signature.output_name) == ("image", "fake_prob")
    assert (signature.height, signature.width) == (256, 256)


@pytest.mark.parametrize(
    "metadata",
    [_metadata(datatype="FP32"), _metadata(shape=[-1, 3, 256, 256]), {"name": "x"}],
)
def test_a_model_breaking_the_contract_is_refused(metadata: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_signature(metadata)
