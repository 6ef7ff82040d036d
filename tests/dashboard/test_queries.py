"""Every page asks the database a fixed number of queries, however many rows it shows (no query per row)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.common.choices import JobStatus
from apps.labelling.models import Annotation, Resolution
from apps.predictions.models import Prediction
from apps.registry.models import ModelVersion, Promotion
from apps.reviews.models import Review
from tests.dashboard.factories import make_labelled_reviews, make_run, make_snapshot, snapshot_test_review_ids
from tests.registry.factories import UserFactory


def add_data(snapshot: Any, *, runs: int, seed: int, users: list[Any]) -> list[Any]:
    ids = snapshot_test_review_ids(snapshot)
    made = [make_run(snapshot, flip=set(ids[n : n + 3]), seed=n) for n in range(runs)]
    made.append(make_run(snapshot, status=JobStatus.RUNNING))
    made.append(make_run(snapshot, status=JobStatus.FAILED, error="boom"))
    version = made[0].model_version
    reviews = list(Review.objects.order_by("-id")[: 10 * runs])
    Prediction.objects.bulk_create(
        Prediction(
            text=review.text, review=review, model_version=version, label=n % 2, confidence=0.6 + (n % 4) / 10,
            prob_negative=0.5, prob_positive=0.5, source="batch", user=users[n % len(users)],
        )
        for n, review in enumerate(reviews)
    )  # fmt: skip
    for n, review in enumerate(reviews[: 4 * runs]):
        for user in users:
            Annotation.objects.get_or_create(review=review, user=user, defaults={"label": n % 2})
        if n % 2:
            Resolution.objects.get_or_create(review=review, defaults={"label": n % 2, "method": "unanimous"})
    return made


def count_queries(client: Client, url: str, **headers: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code in (200, 286), f"{url}: {response.status_code}"
    return len(queries)


def test_the_number_of_queries_per_page_does_not_grow_with_the_data(ml_admin_client: Client, ml_admin: Any) -> None:
    users = [ml_admin, UserFactory(username="u1"), UserFactory(username="u2")]
    snapshot = make_snapshot(60)
    runs = add_data(snapshot, runs=2, seed=1, users=users)
    first, second, running = runs[0], runs[1], runs[2]
    ModelVersion.objects.filter(pk=first.model_version.pk).update(is_current=True)
    Promotion.objects.create(to_version=first.model_version, promoted_by=ml_admin)
    review = snapshot_test_review_ids(snapshot)[0]
    pages = {
        "home": ("/", {}),
        "home poll": ("/", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "active-runs"}),
        "runs": ("/runs/?order=f1", {}),
        "run": (f"/runs/{first.pk}/", {}),
        "run poll": (f"/runs/{running.pk}/", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "run-live"}),
        "cell": (f"/runs/{first.pk}/cells/1/0/", {}),
        "compare": (f"/compare/?runs={first.pk}&runs={second.pk}", {}),
        "models": ("/models/", {}),
        "model": (f"/models/{first.model_version.pk}/", {}),
        "reviews": ("/reviews/", {}),
        "reviews filtered": ("/reviews/?q=plot&gold=1&predicted=1&min_confidence=0.5&disagreement=model_gold", {}),
        "review": (f"/reviews/{review}/", {}),
    }
    before = {name: count_queries(ml_admin_client, url, **headers) for name, (url, headers) in pages.items()}

    make_labelled_reviews(120, seed=99)
    add_data(snapshot, runs=6, seed=2, users=users)
    after = {name: count_queries(ml_admin_client, url, **headers) for name, (url, headers) in pages.items()}

    assert after == before
    assert max(after.values()) <= 16, after
