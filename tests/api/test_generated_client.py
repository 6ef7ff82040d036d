"""What an integrator whose code is generated from /api/schema/ does: the same journey as
test_integrator_journey, but every request goes through a client that openapi-python-client built from
the schema the server serves, over HTTP to a live server.

So the test fails when the schema stops describing what the server does in a way generated code relies
on: an undeclared status (before 304 was declared on GETs, the generated client called ``.json()`` on the
bodiless 304 and crashed with ``JSONDecodeError``), a body that does not match its declared model, or a
schema the generator can only partly turn into code (``--fail-on-warning``).

The training run, the one thing the API hands to a worker, is executed the way a worker executes it, in
this process; the live server sees it because a ``live_server`` test commits what it writes.
"""

from __future__ import annotations

import importlib
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from apps.common.roles import INTEGRATION, ML_ADMIN
from apps.common.services import api_token_create
from apps.training.runners import training_run_execute
from tests.brokering import stand_in_for_task
from tests.registry.factories import UserFactory, review_text

PACKAGE = "sentiment_api_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
# No post-generation hooks: by default they format the code with ruff, which the generated code does not need
# to be imported, and a missing ruff is a warning that --fail-on-warning would turn into a failure.
GENERATOR_CONFIG = "post_hooks: []\n"


@pytest.fixture
def token(transactional_db: None) -> str:
    user = UserFactory(username="pipeline", roles=[ML_ADMIN, INTEGRATION])
    _, key = api_token_create(user=user, name="generated client")
    return key


@pytest.fixture
def generated(live_server: Any, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The package openapi-python-client generates from the live server's schema, imported from tmp_path."""
    schema = httpx.get(f"{live_server.url}/api/schema/", headers={"Authorization": f"Token {token}"})
    assert schema.status_code == 200, schema.text
    (tmp_path / "schema.json").write_bytes(schema.content)
    (tmp_path / "config.yaml").write_text(GENERATOR_CONFIG, encoding="utf-8")
    generation = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(tmp_path / "config.yaml"),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert generation.returncode == 0, generation.stdout + generation.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module(PACKAGE)
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def generated_module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_a_client_generated_from_the_schema_goes_from_reviews_to_predictions_of_the_model_it_promoted(
    generated: ModuleType, live_server: Any, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[int] = []
    stand_in_for_task(monkeypatch, "training.run_training", lambda **kw: queued.append(kw["args"][0]))
    api = generated_module(generated, "api")
    models = generated_module(generated, "models")
    reviews_bulk_create = generated_module(api, "reviews.reviews_bulk_create")
    snapshots_create = generated_module(api, "snapshots.snapshots_create")
    training_runs_create = generated_module(api, "training_runs.training_runs_create")
    training_runs_retrieve = generated_module(api, "training_runs.training_runs_retrieve")
    models_promote_create = generated_module(api, "models.models_promote_create")
    predict_create = generated_module(api, "predictions.predict_create")

    def connect(**headers: str) -> Any:
        return generated.AuthenticatedClient(base_url=live_server.url, token=token, prefix="Token", headers=headers)

    # Closed when done with, so no kept-alive connection holds a server thread, and its database session, open.
    with connect() as client:
        # Reviews in, frozen into a snapshot.
        rng = random.Random(11)
        labels = [models.LabelEnum.NEGATIVE, models.LabelEnum.POSITIVE]
        reviews = [
            models.ReviewCreateRequest(text=review_text(n % 2, rng), external_id=f"r{n}", gold_label=labels[n % 2])
            for n in range(80)
        ]
        stored = reviews_bulk_create.sync_detailed(
            client=client, body=models.ReviewBulkCreateRequest(reviews=reviews, source="crm")
        )
        snapshot = snapshots_create.sync_detailed(client=client, body=models.SnapshotCreateRequest(name="crm", seed=1))

        # A TF-IDF run queued, then done by "the worker".
        started = training_runs_create.sync_detailed(
            client=client,
            body=models.TrainingRunCreateRequest(snapshot=snapshot.parsed.id, kind=models.ModelKindEnum.TFIDF),
            idempotency_key="generated-client-1",
        )
        (run_id,) = queued
        training_run_execute(run_id=run_id, worker="test-worker")

        # Read once done, then again with its ETag: a bodiless 304 the generated code must take in its stride.
        # A client of its own for the ETag: the generated with_headers() would add If-None-Match to every
        # later request of the client it is called on.
        followed = training_runs_retrieve.sync_detailed(run_id, client=client)
        with connect(**{"If-None-Match": followed.headers["ETag"]}) as conditional:
            unchanged = training_runs_retrieve.sync_detailed(run_id, client=conditional)
        run = followed.parsed

        # Its model promoted, then answering predictions.
        promoted = models_promote_create.sync_detailed(
            run.model_version, client=client, body=models.PromoteInputRequest(reason="generated client")
        )
        prediction = predict_create.sync_detailed(
            client=client, body=models.OneReview(text="The acting was superb and the ending brilliant.")
        )

    assert stored.status_code == 201 and stored.parsed.created == 80
    assert snapshot.status_code == 201
    assert snapshot.parsed.train_count + snapshot.parsed.validation_count + snapshot.parsed.test_count == 80
    assert started.status_code == 202 and started.parsed.id == run_id
    assert followed.status_code == 200 and run.status == models.JobStatusEnum.SUCCEEDED
    assert run.accuracy is not None and run.model_version is not None
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.parsed is None
    assert promoted.status_code == 200 and promoted.parsed.current.id == run.model_version
    assert prediction.status_code == 200, prediction.content
    answer = prediction.parsed
    assert isinstance(answer, models.PredictResponse)
    assert answer.model_version.id == run.model_version
    assert answer.predictions[0].label == models.LabelEnum.POSITIVE
