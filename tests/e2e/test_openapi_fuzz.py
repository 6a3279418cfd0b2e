"""Requests generated from the gateway's own OpenAPI description: none may end in a 5xx.

Every operation gets `MAX_EXAMPLES` generated requests (valid and invalid), bounded so that
the run takes about a minute. Webhook endpoints it registers are removed afterwards:
other tests' jobs would notify them.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation

from tests.e2e.clients import auth_headers

pytestmark = pytest.mark.e2e

# Valid and invalid requests together, per operation.
MAX_EXAMPLES = 30

Operation = APIOperation[Any, Any, Any, Any]


def _webhook_ids(api: httpx.Client) -> set[str]:
    response = api.get("/v1/webhooks")
    assert response.status_code == 200, response.text
    return {webhook["id"] for webhook in response.json()}


@pytest.fixture
def operations(api: httpx.Client, gateway: str) -> Iterator[list[Operation]]:
    before = _webhook_ids(api)
    schema = schemathesis.openapi.from_url(f"{gateway}/openapi.json", headers=auth_headers())
    results = list(schema.get_all_operations())
    # An operation the loader cannot read would be skipped silently: fail instead.
    assert all(isinstance(result, Ok) for result in results), results
    yield [result.ok() for result in results if isinstance(result, Ok)]
    for webhook_id in _webhook_ids(api) - before:
        api.delete(f"/v1/webhooks/{webhook_id}")


def _server_errors(operation: Operation, gateway: str) -> set[str]:
    """The distinct 5xx one operation answered, each with a request that reproduces it."""
    found: dict[str, str] = {}

    cases = [operation.as_strategy(mode) for mode in GenerationMode]

    @given(case=st.one_of(cases))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def explore(case: schemathesis.Case[Any]) -> None:
        try:
            case.call_and_validate(
                base_url=gateway, headers=auth_headers(), checks=[not_a_server_error]
            )
        except (Failure, FailureGroup) as failure:
            # Collected, not raised: shrinking would cost the time the other operations need.
            found.setdefault(str(failure).splitlines()[0], case.as_curl_command())

    explore()
    return {f"{operation.label}: {title}\n  {curl}" for title, curl in found.items()}


def test_no_generated_request_makes_the_gateway_fail(
    operations: list[Operation], gateway: str
) -> None:
    assert len(operations) >= 10
    errors = set().union(*(_server_errors(operation, gateway) for operation in operations))
    assert not errors, "\n".join(sorted(errors))
