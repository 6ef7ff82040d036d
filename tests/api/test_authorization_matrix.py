"""Who may call what: every endpoint x every role (and no credentials at all), as one table.

Each row is one operation; the columns are what it answers to a request without credentials, and with
the API token of a user with no role, an integration, an analyst and an ML admin. A request an account
may make is a valid one, so the allowed columns show the status of success. The last test checks that
the table covers every operation in the OpenAPI schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart

from apps.registry.models import HubJob
from apps.training.models import EvaluationDataset
from tests.api.conftest import PASSWORD, ROLE_ORDER, World

pytestmark = pytest.mark.django_db

#  method  path                                       anonymous no_role integration analyst ml_admin
MATRIX = """
GET     /api/schema/                                       401   200   200   200   200
GET     /api/docs/                                         302   200   200   200   200
GET     /api/redoc/                                        302   200   200   200   200
POST    /api/auth/token/                                   201   201   201   201   201
GET     /api/tokens/                                       401   200   200   200   200
POST    /api/tokens/                                       401   201   201   201   201
GET     /api/tokens/{own_token}/                           401   200   200   200   200
DELETE  /api/tokens/{own_token}/                           401   204   204   204   204
GET     /api/reviews/                                      401   403   403   200   200
POST    /api/reviews/                                      401   403   201   403   201
POST    /api/reviews/bulk/                                 401   403   201   403   201
GET     /api/reviews/{review}/                             401   403   403   200   200
DELETE  /api/reviews/{loose_review}/                       401   403   403   403   204
GET     /api/imports/                                      401   403   403   200   200
POST    /api/imports/                                      401   403   403   403   202
GET     /api/imports/{import_job}/                         401   403   403   200   200
POST    /api/imports/{import_job}/cancel/                  401   403   403   403   200
GET     /api/snapshots/                                    401   403   403   200   200
POST    /api/snapshots/                                    401   403   403   403   201
GET     /api/snapshots/{snapshot}/                         401   403   403   200   200
GET     /api/training-runs/                                401   403   200   200   200
POST    /api/training-runs/                                401   403   403   403   202
GET     /api/training-runs/{run}/                          401   403   200   200   200
POST    /api/training-runs/{run}/cancel/                   401   403   403   403   200
GET     /api/evaluation-runs/                              401   403   200   200   200
POST    /api/evaluation-runs/                              401   403   403   403   202
GET     /api/evaluation-runs/{evaluation}/                 401   403   200   200   200
POST    /api/evaluation-runs/{evaluation}/cancel/          401   403   403   403   200
GET     /api/evaluation-datasets/                          401   403   200   200   200
POST    /api/evaluation-datasets/                          401   403   403   403   201
GET     /api/evaluation-datasets/{dataset}/                401   403   200   200   200
GET     /api/models/                                       401   403   200   200   200
GET     /api/models/current/                               401   403   200   200   200
GET     /api/models/promotions/                            401   403   200   200   200
POST    /api/models/rollback/                              401   403   403   403   200
GET     /api/models/{version}/                             401   403   200   200   200
GET     /api/models/{version}/card/                        401   403   200   200   200
POST    /api/models/{other_version}/promote/               401   403   403   403   200
GET     /api/models/ensembles/                             401   403   200   200   200
POST    /api/models/ensembles/                             401   403   403   403   202
GET     /api/models/ensembles/{ensemble}/                  401   403   200   200   200
POST    /api/models/ensembles/{ensemble}/cancel/           401   403   403   403   200
POST    /api/models/{version}/publish/                     401   403   403   403   400
POST    /api/models/register/                              401   403   403   403   202
GET     /api/models/hub-jobs/                              401   403   200   200   200
GET     /api/models/hub-jobs/{hub_job}/                    401   403   200   200   200
POST    /api/predict                                       401   403   200   200   200
GET     /api/predictions/                                  401   403   200   200   200
GET     /api/predictions/{prediction}/                     401   403   404   200   200
GET     /api/batch-predictions/                            401   403   403   200   200
POST    /api/batch-predictions/                            401   403   403   403   202
GET     /api/batch-predictions/{batch_job}/                401   403   403   200   200
POST    /api/batch-predictions/{batch_job}/cancel/         401   403   403   403   200
GET     /api/webhooks/                                     401   403   403   403   200
POST    /api/webhooks/                                     401   403   403   403   201
GET     /api/webhooks/{webhook}/                           401   403   403   403   200
PATCH   /api/webhooks/{webhook}/                           401   403   403   403   200
DELETE  /api/webhooks/{webhook}/                           401   403   403   403   204
POST    /api/webhooks/{webhook}/ping/                      401   403   403   403   202
GET     /api/webhooks/{webhook}/deliveries/                401   403   403   403   200
GET     /api/labelling/queues/                             401   403   403   200   200
POST    /api/labelling/queues/                             401   403   403   403   201
GET     /api/labelling/queues/{queue}/                     401   403   403   200   200
PATCH   /api/labelling/queues/{queue}/                     401   403   403   403   200
POST    /api/labelling/queues/{queue}/reorder/             401   403   403   403   200
GET     /api/labelling/queues/{queue}/progress/            401   403   403   200   200
POST    /api/labelling/queues/{queue}/next/                401   403   403   200   200
POST    /api/labelling/queues/{queue}/labels/              401   403   403   201   201
POST    /api/labelling/queues/{queue}/skip/                401   403   403   200   200
POST    /api/labelling/queues/{queue}/undo/                401   403   403   200   200
GET     /api/labelling/conflicts/                          401   403   403   403   200
POST    /api/labelling/reviews/{review}/settle/            401   403   403   403   200
GET     /api/labelling/agreement/                          401   403   403   403   200
GET     /api/labelling/annotations/                        401   403   403   403   200
GET     /api/labelling/export.csv                          401   403   403   403   200
GET     /api/labelling/export.jsonl                        401   403   403   403   200
POST    /api/labelling/uploads/                            401   403   403   403   201
POST    /api/labelling/snapshots/                          401   403   403   403   201
GET     /api/labelling/noise/                              401   403   403   403   200
POST    /api/labelling/noise/                              401   403   403   403   202
GET     /api/labelling/noise/{noise}/                      401   403   403   403   200
GET     /api/retraining-policies/                          401   403   403   200   200
POST    /api/retraining-policies/                          401   403   403   403   201
GET     /api/retraining-policies/{policy}/                 401   403   403   200   200
PATCH   /api/retraining-policies/{policy}/                 401   403   403   403   200
DELETE  /api/retraining-policies/{idle_policy}/            401   403   403   403   204
POST    /api/retraining-policies/{idle_policy}/run/        401   403   403   403   202
GET     /api/retraining-cycles/                            401   403   403   200   200
GET     /api/retraining-cycles/{cycle}/                    401   403   403   200   200
POST    /api/retraining-cycles/{cycle}/cancel/             401   403   403   403   202
"""

ROWS = [line.split() for line in MATRIX.strip().splitlines()]
BOUNDARY = "matrix-boundary"


def body_for(method: str, path: str, world: World, role: str) -> tuple[Any, str]:
    """A valid request body for the operation, and its format."""
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/auth/token/"): {"username": "analyst", "password": PASSWORD, "name": "matrix"},
        ("POST", "/api/tokens/"): {"name": "matrix"},
        ("POST", "/api/reviews/"): {"text": "A brand new review.", "external_id": f"matrix-{role}"},
        ("POST", "/api/reviews/bulk/"): {"reviews": [{"text": "One more review.", "gold_label": "positive"}]},
        ("POST", "/api/snapshots/"): {"name": "matrix", "seed": 7},
        ("POST", "/api/training-runs/"): {"snapshot": world.snapshot.pk, "kind": "tfidf"},
        ("POST", "/api/evaluation-runs/"): {"model_version": world.version.pk},
        ("POST", "/api/models/rollback/"): {"reason": "matrix"},
        ("POST", "/api/models/{other_version}/promote/"): {"reason": "matrix"},
        ("POST", "/api/predict"): {"text": "The acting was superb and the ending brilliant."},
        ("POST", "/api/batch-predictions/"): {"model_version": world.version.pk, "pool": "all"},
        ("POST", "/api/webhooks/"): {
            "name": "matrix",
            "url": "http://127.0.0.1:9/hook",
            "events": ["import.finished"],
        },
        ("PATCH", "/api/webhooks/{webhook}/"): {"is_active": False},
        ("POST", "/api/labelling/queues/"): {"name": "another", "pool": "all"},
        ("PATCH", "/api/labelling/queues/{queue}/"): {"name": "renamed"},
        ("POST", "/api/labelling/queues/{queue}/labels/"): {"review": world.held.get(role), "label": "positive"},
        ("POST", "/api/labelling/queues/{queue}/skip/"): {"review": world.held.get(role)},
        ("POST", "/api/labelling/reviews/{review}/settle/"): {"label": "negative", "reason": "checked by hand"},
        ("POST", "/api/labelling/snapshots/"): {"label_source": "gold_and_human"},
        ("POST", "/api/labelling/noise/"): {"snapshot": world.snapshot.pk, "split": "train"},
        ("POST", "/api/models/ensembles/"): {"members": [world.version.pk, world.other_version.pk]},
        # The world's version is a TF-IDF model: an ML admin passes the check and hears why it cannot be published.
        ("POST", "/api/models/{version}/publish/"): {"repo_id": "acme/imdb-sentiment"},
        ("POST", "/api/models/register/"): {"source": "acme/distilbert-imdb", "snapshot": world.snapshot.pk},
        ("POST", "/api/retraining-policies/"): {"name": f"matrix {role}", "benchmark_snapshot": world.snapshot.pk},
        ("PATCH", "/api/retraining-policies/{policy}/"): {"min_improvement": 0.01},
    }
    if (method, path) == ("POST", "/api/imports/"):
        upload = SimpleUploadedFile("reviews.csv", b"review,sentiment\nA fine film.,positive\n", "text/csv")
        return {"file": upload}, "multipart"
    if (method, path) == ("POST", "/api/evaluation-datasets/"):
        return {"file": SimpleUploadedFile("june.jsonl", b'{"text": "A fine film.", "label": 1}\n')}, "multipart"
    if (method, path) == ("POST", "/api/labelling/uploads/"):
        return {"file": SimpleUploadedFile("to-label.txt", b"A review to label.\n", "text/plain")}, "multipart"
    return bodies.get((method, path), {} if method in ("POST", "PATCH") else None), "json"


def concrete(path: str, world: World, role: str) -> str:
    ids = {
        "review": world.review.pk,
        "loose_review": world.loose_review.pk,
        "import_job": world.import_job.pk,
        "snapshot": world.snapshot.pk,
        "run": world.run.pk,
        "evaluation": world.evaluation.pk,
        "dataset": EvaluationDataset.objects.get_or_create(
            name="matrix", defaults={"filename": "matrix.jsonl", "source_name": "eval-matrix"}
        )[0].pk,
        "version": world.version.pk,
        "other_version": world.other_version.pk,
        "prediction": world.prediction.pk,
        "batch_job": world.batch_job.pk,
        "webhook": world.webhook.pk,
        "queue": world.queue.pk,
        "policy": world.policy.pk,
        "idle_policy": world.idle_policy.pk,
        "cycle": world.cycle.pk,
        "noise": world.noise.pk,
        "ensemble": world.ensemble.pk,
        "hub_job": HubJob.objects.get_or_create(action="publish", repo_id="acme/matrix", model_version=world.version)[0].pk,
        # The anonymous ask for some token; everyone else for their own.
        "own_token": world.tokens.get(role, world.tokens["analyst"]).pk,
    }
    return re.sub(r"\{(\w+)\}", lambda match: str(ids[match.group(1)]), path)


@pytest.mark.parametrize(("method", "path", *ROLE_ORDER), ROWS, ids=[f"{row[0]} {row[1]}" for row in ROWS])
def test_each_role_gets_the_status_the_table_says(
    world: World,
    settings: Any,
    method: str,
    path: str,
    anonymous: str,
    no_role: str,
    integration: str,
    analyst: str,
    ml_admin: str,
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    expected = {"anonymous": anonymous, "no_role": no_role, "integration": integration, "analyst": analyst}
    expected["ml_admin"] = ml_admin
    got = {}
    for role in ROLE_ORDER:
        data, fmt = body_for(method, path, world, role)
        client = world.client(role)
        response = client.generic(method, concrete(path, world, role), **_encoded(client, data, fmt))
        got[role] = str(response.status_code)
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}, f"{role}: not the error envelope: {response.content[:200]!r}"
    assert got == expected


def _encoded(client: Any, data: Any, fmt: str) -> dict[str, Any]:
    if data is None:
        return {}
    if fmt == "multipart":
        return {"data": encode_multipart(BOUNDARY, data), "content_type": f"multipart/form-data; boundary={BOUNDARY}"}
    return {"data": json.dumps(data), "content_type": "application/json"}


def test_the_table_covers_every_operation_in_the_schema(world: World) -> None:
    schema = world.client("analyst").get("/api/schema/").json()
    in_schema = {
        (method.upper(), re.sub(r"\{\w+\}", "{id}", path))
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    in_table = {(row[0], re.sub(r"\{\w+\}", "{id}", row[1])) for row in ROWS}
    documentation = {("GET", "/api/schema/"), ("GET", "/api/docs/"), ("GET", "/api/redoc/")}

    assert in_schema - in_table == set()
    assert in_table - documentation - in_schema == set()
