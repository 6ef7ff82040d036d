"""Property-based: schemathesis sends generated requests to every operation of the live schema.

The server is the tests' live server (a real HTTP server on loopback) with a small world of data, and
the requests carry an ML admin's token, so every operation is reachable. A bounded number of examples
per operation keeps the run to a minute or so. No answer may be a server error, have a status the
schema does not list, a body that does not match the schema, or a content type or header it does not
declare.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.common.models import ApiToken
from tests.api.conftest import World

# Valid requests (per the schema) and invalid ones (which must be refused with a documented 4xx).
EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 3}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.mark.django_db(transaction=True)
def test_no_generated_request_gets_a_server_error_or_an_answer_outside_the_schema(
    live_server: Any, world: World, settings: Any
) -> None:
    # Generated ids are small numbers: keep the token that signs the requests out of reach of DELETE.
    ApiToken.objects.filter(pk=world.tokens["ml_admin"].pk).update(id=987_654_321)
    auth = {"Authorization": f"Token {world.keys['ml_admin']}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", headers=auth)
    failures: list[str] = []
    operations = 0

    for result, mode in [(result, mode) for result in schema.get_all_operations() for mode in EXAMPLES_PER_OPERATION]:
        operation = result.ok()
        operations += mode == GenerationMode.POSITIVE

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION[mode],
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: Any) -> None:
            case.call_and_validate(base_url=live_server.url, headers=auth, checks=CHECKS)

        try:
            call()
        except Unsatisfiable:
            # Nothing to make invalid: an operation without parameters or body has no negative cases.
            assert mode == GenerationMode.NEGATIVE, f"{operation.label}: no valid request could be generated"
        except (Exception, BaseExceptionGroup) as error:  # every operation is tried; all failures are reported
            failures.append(f"{operation.label} ({mode.value} data):\n{error}")

    assert operations >= 40
    assert not failures, "\n\n".join(failures)


# The stateful phase: chains of calls where each takes ids from the answers before it (links schemathesis
# infers from the schema: POST /api/snapshots/ -> GET /api/snapshots/{id}/ ...). Bounded and derandomized.
STATEFUL_SEQUENCES = 12
STATEFUL_STEPS = 6


@pytest.mark.django_db(transaction=True)
def test_chains_of_calls_reusing_the_ids_answers_give_stay_inside_the_schema(
    live_server: Any, world: World, settings: Any
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    ApiToken.objects.filter(pk=world.tokens["ml_admin"].pk).update(id=987_654_321)
    auth = {"Authorization": f"Token {world.keys['ml_admin']}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", headers=auth)
    machine = schema.as_state_machine()
    calls: list[str] = []

    class Machine(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": live_server.url, "headers": auth}

        def after_call(self, response: Any, case: Any) -> None:
            calls.append(f"{case.method} {case.path}")

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=hypothesis_settings(
            max_examples=STATEFUL_SEQUENCES,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )

    # The chains went past the first call: some step used what an earlier answer gave.
    assert len(calls) > STATEFUL_SEQUENCES
