"""Attacks on the retraining policy API: absurd numbers and broken cron schedules get a 400, never a server error."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.automation.models import TrainingPolicy
from apps.reviews.models import DatasetSnapshot
from tests.automation.conftest import policy_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _static_files(static_files_as_in_development: None) -> None:
    """API answers go through the site's middleware, which looks for static files."""


def client_of(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("labels", [2**31, 10**12])
def test_a_label_count_past_what_the_database_holds_is_refused_on_create_and_change(
    benchmark: DatasetSnapshot, ml_admin: Any, labels: int
) -> None:
    client = client_of(ml_admin)
    made = client.post(
        "/api/retraining-policies/", {"name": "absurd", "benchmark_snapshot": benchmark.pk, "min_new_labels": labels}, format="json"
    )
    policy = policy_for(benchmark, min_new_labels=10)
    changed = client.patch(f"/api/retraining-policies/{policy.pk}/", {"min_new_labels": labels}, format="json")

    for answer in (made, changed):
        assert answer.status_code == 400, answer.content
        assert answer.json()["error"]["fields"]["min_new_labels"].startswith("Give a number of labels from 1 to 2,147,483,647")
    policy.refresh_from_db()
    assert policy.min_new_labels == 10 and list(TrainingPolicy.objects.values_list("name", flat=True)) == [policy.name]


@pytest.mark.parametrize("schedule", ["1,,2 * * * *", "5- * * * *"])
def test_a_cron_schedule_celery_cannot_parse_is_refused_with_a_message(
    benchmark: DatasetSnapshot, ml_admin: Any, schedule: str
) -> None:
    answer = client_of(ml_admin).post(
        "/api/retraining-policies/", {"name": "cron", "benchmark_snapshot": benchmark.pk, "schedule": schedule}, format="json"
    )

    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["fields"]["schedule"].startswith(f"{schedule!r} is not a cron schedule")
    assert not TrainingPolicy.objects.exists()


def test_nan_in_the_training_settings_is_refused(benchmark: DatasetSnapshot, ml_admin: Any) -> None:
    body = f'{{"name": "nan", "benchmark_snapshot": {benchmark.pk}, "hyperparameters": {{"tfidf_c": NaN}}}}'

    answer = client_of(ml_admin).generic("POST", "/api/retraining-policies/", body, content_type="application/json")

    assert answer.status_code == 400, answer.content
    assert not TrainingPolicy.objects.exists()


@pytest.mark.parametrize("extra", ['"\\ud800": 1', '"hyperparameters": {"\\ud800": 1}'])
def test_a_lone_surrogate_in_a_field_name_is_a_400_that_quotes_it_escaped(
    benchmark: DatasetSnapshot, ml_admin: Any, extra: str
) -> None:
    body = f'{{"name": "odd", "benchmark_snapshot": {benchmark.pk}, {extra}}}'

    answer = client_of(ml_admin).generic("POST", "/api/retraining-policies/", body, content_type="application/json")

    assert answer.status_code == 400, answer.content
    assert "\\ud800" in answer.json()["error"]["message"]
    assert not TrainingPolicy.objects.exists()
