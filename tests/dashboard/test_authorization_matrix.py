"""Who may open which page: every page and HTMX endpoint x every role (and the signed out), as one table.

The pages' counterpart of tests/api/test_authorization_matrix.py, on the same world. Each row is one
request (``HX-`` before the method: sent as htmx sends it, swapping the element named in the last
column); the columns are what it answers a visitor who is not signed in, a user with no role, an
integration, an analyst and an ML admin. Allowed requests are valid ones, so they show the status of
success. The last test fails when a page exists that the table leaves out.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from apps.training.forms import TrainingRunForm
from tests.api.conftest import ROLE_ORDER, World, tfidf_artifact, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

#  method    path                                         anonymous no_role integration analyst ml_admin  htmx target
MATRIX = """
GET      /                                               302   403   403   200   200
HX-GET   /                                               302   403   403   200   200   active-runs
GET      /runs/                                          302   403   403   200   200
HX-GET   /runs/                                          302   403   403   200   200   run-results
GET      /runs/new/                                      302   403   403   403   200
POST     /runs/new/                                      302   403   403   403   302
GET      /runs/{run}/                                    302   403   403   200   200
HX-GET   /runs/{run}/                                    302   403   403   200   200   run-live
POST     /runs/{run}/cancel/                             302   403   403   403   302
POST     /runs/{failed_run}/retry/                       302   403   403   403   302
GET      /runs/{finished_run}/cells/1/0/                 302   403   403   200   200
HX-GET   /runs/{finished_run}/cells/1/0/                 302   403   403   200   200   cell-results
GET      /evaluations/{finished_evaluation}/cells/1/0/   302   403   403   200   200
GET      /evaluations/                                   302   403   403   200   200
HX-GET   /evaluations/                                   302   403   403   200   200   evaluation-results
GET      /evaluations/new/                               302   403   403   403   200
POST     /evaluations/new/                               302   403   403   403   302
GET      /evaluations/{finished_evaluation}/             302   403   403   200   200
HX-GET   /evaluations/{finished_evaluation}/             302   403   403   286   286   evaluation-live
GET      /compare/                                       302   403   403   200   200
HX-GET   /compare/                                       302   403   403   200   200   disagreements
GET      /models/                                        302   403   403   200   200
HX-GET   /models/                                        302   403   403   200   200   versions
POST     /models/rollback/                               302   403   403   403   302
GET      /models/{version}/                              302   403   403   200   200
POST     /models/{other_version}/promote/                302   403   403   403   302
GET      /reviews/                                       302   403   403   200   200
HX-GET   /reviews/                                       302   403   403   200   200   review-results
GET      /reviews/{review}/                              302   403   403   200   200
GET      /predict/                                       302   403   403   200   200
POST     /predict/                                       302   403   403   200   200
HX-POST  /predict/                                       302   403   403   200   200   result
GET      /labelling/                                     302   403   403   200   200
GET      /labelling/queues/new/                          302   403   403   403   200
POST     /labelling/queues/new/                          302   403   403   403   302
GET      /labelling/queues/{queue}/                      302   403   403   200   200
GET      /labelling/queues/{queue}/edit/                 302   403   403   403   200
POST     /labelling/queues/{queue}/edit/                 302   403   403   403   302
POST     /labelling/queues/{queue}/reorder/              302   403   403   403   302
POST     /labelling/queues/{queue}/predict/              302   403   403   403   302
GET      /labelling/queues/{queue}/label/                302   403   403   200   200
HX-GET   /labelling/queues/{queue}/label/                302   403   403   200   200   card
POST     /labelling/queues/{queue}/label/                302   403   403   302   302
HX-POST  /labelling/queues/{queue}/label/                302   403   403   200   200   card
GET      /labelling/conflicts/                           302   403   403   403   200
POST     /labelling/conflicts/{review}/settle/           302   403   403   403   302
GET      /labelling/agreement/                           302   403   403   403   200
GET      /labelling/upload/                              302   403   403   403   200
POST     /labelling/upload/                              302   403   403   403   302
GET      /labelling/labels.csv                           302   403   403   403   200
GET      /labelling/labels.jsonl                         302   403   403   403   200
GET      /labelling/snapshot/                            302   403   403   403   200
POST     /labelling/snapshot/                            302   403   403   403   302
GET      /labelling/noise/                               302   403   403   403   200
HX-GET   /labelling/noise/                               302   403   403   403   200   noise-table
POST     /labelling/noise/                               302   403   403   403   302
GET      /labelling/noise/{noise}/                       302   403   403   403   200
GET      /retraining/                                    302   403   403   403   200
HX-GET   /retraining/                                    302   403   403   403   200   cycles
POST     /retraining/policies/{idle_policy}/run/         302   403   403   403   302
"""

ROWS = [line.split() for line in MATRIX.strip().splitlines()]
# Pages with their own gate, checked elsewhere: the API (its own matrix), the admin (staff only) and
# the sign-in pages (open to all by design).
OUT_OF_SCOPE = ("api/", "admin/", "accounts/")


@pytest.fixture(autouse=True)
def _page_settings(settings: Any, tmp_path: Any, static_files_as_in_development: None) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    cache.clear()


def body_for(method: str, path: str, world: World, role: str) -> dict[str, Any]:
    bodies: dict[str, dict[str, Any]] = {
        "/runs/new/": {**_initial(TrainingRunForm()), "snapshot": world.snapshot.pk, "kind": "tfidf"},
        "/evaluations/new/": {"model_version": world.version.pk, "split": "test"},
        "/models/rollback/": {"reason": "matrix"},
        "/models/{other_version}/promote/": {"reason": "matrix"},
        "/predict/": {"text": "The acting was superb and the ending brilliant."},
        "/labelling/queues/new/": {"name": f"matrix {role}", "pool": "all", "strategy": "random", "overlap": 1},
        "/labelling/queues/{queue}/edit/": {"name": "renamed", "strategy": "random", "overlap": 2, "is_active": "on"},
        "/labelling/queues/{queue}/label/": {"review": world.held.get(role, 0), "label": "positive"},
        "/labelling/conflicts/{review}/settle/": {"label": "negative", "reason": "checked by hand"},
        "/labelling/upload/": {"file": SimpleUploadedFile("to-label.txt", b"A review to label.\n", "text/plain")},
        "/labelling/snapshot/": {"name": f"matrix {role}", "label_source": "gold_and_human", "seed": 42},
        "/labelling/noise/": {"snapshot": world.snapshot.pk, "split": "test", "folds": 5},
    }
    return bodies.get(path, {}) if method.endswith("POST") else {}


def _initial(form: Any) -> dict[str, Any]:
    """What the unchanged form would send."""
    values = {name: form[name].value() for name in form.fields}
    return {name: value for name, value in values.items() if value is not None and value is not False}


def concrete(path: str, world: World, extra: dict[str, int]) -> str:
    ids = {
        "review": world.review.pk,
        "run": world.run.pk,
        "version": world.version.pk,
        "other_version": world.other_version.pk,
        "queue": world.queue.pk,
        "idle_policy": world.idle_policy.pk,
        "noise": world.noise.pk,
        **extra,
    }
    return re.sub(r"\{(\w+)\}", lambda match: str(ids[match.group(1)]), path)


def client_for(world: World, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    return client


@pytest.fixture
def finished(world: World) -> dict[str, int]:
    """A finished run with its confusion matrix, its evaluation, and a failed run to retry."""
    from tests.dashboard.factories import make_run

    done = make_run(world.snapshot)
    failed = make_run(world.snapshot, status="failed", error="out of memory")
    evaluation = world.evaluation
    evaluation.confusion_matrix = [[5, 1], [2, 4]]
    evaluation.status = "succeeded"
    evaluation.save()
    return {"finished_run": done.pk, "failed_run": failed.pk, "finished_evaluation": evaluation.pk}


@pytest.mark.parametrize(("method", "path", *ROLE_ORDER, "target"), [(*row, "")[:8] for row in ROWS], ids=[
    f"{row[0]} {row[1]}" for row in ROWS
])
def test_each_role_gets_the_status_the_table_says(
    world: World,
    finished: dict[str, int],
    method: str,
    path: str,
    anonymous: str,
    no_role: str,
    integration: str,
    analyst: str,
    ml_admin: str,
    target: str,
) -> None:
    expected = {"anonymous": anonymous, "no_role": no_role, "integration": integration, "analyst": analyst}
    expected["ml_admin"] = ml_admin
    got = {}
    for role in ROLE_ORDER:
        client = client_for(world, role)
        url = concrete(path, world, finished)
        headers = {"HX-Request": "true", "HX-Target": target} if method.startswith("HX-") else {}
        verb = method.removeprefix("HX-")
        if verb == "POST":
            response = client.post(url, body_for(method, path, world, role), headers=headers)
        else:
            response = client.get(url, headers=headers)
        got[role] = str(response.status_code)
        if response.status_code == 302 and role == "anonymous":
            assert response["Location"].startswith("/accounts/login/?next="), response["Location"]
        if response.status_code == 403:
            page = response.content.decode()
            assert "Ask an administrator" in page, f"{role}: the refusal does not say what to do: {page[:300]}"
    assert got == expected


def _routes(resolver: URLResolver, prefix: str = "") -> list[str]:
    routes = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes.extend(_routes(pattern, route))
        elif isinstance(pattern, URLPattern):
            routes.append(route)
    return routes


def test_the_table_covers_every_page_of_the_site() -> None:
    pages = {
        "/" + re.sub(r"<\w+:\w+>", "{id}", route).lstrip("^").rstrip("$")
        for route in _routes(get_resolver())
        if not route.startswith(OUT_OF_SCOPE)
    }
    in_table = {re.sub(r"\{\w+\}|(?<=/)\d+(?=/)", "{id}", row[1]) for row in ROWS}

    assert pages - in_table == set()
    assert in_table - pages == set()
