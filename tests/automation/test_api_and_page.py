"""The retraining API (who may do what, what bad input is told) and the ML admins' retraining page."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.automation.models import RetrainingCycle, TrainingPolicy
from apps.common.choices import JobStatus
from apps.reviews.models import DatasetSnapshot
from tests.automation.conftest import policy_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _static_files(static_files_as_in_development: None) -> None:
    return None


def client_of(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_ml_admins_set_policies_analysts_read_them_and_integrations_see_none(
    benchmark: DatasetSnapshot, ml_admin: Any, analyst: Any, integration: Any
) -> None:
    body = {"name": "after 200 labels", "benchmark_snapshot": benchmark.pk, "min_new_labels": 200, "schedule": "0 3 * * *"}

    refused = client_of(analyst).post("/api/retraining-policies/", body, format="json")
    assert refused.status_code == 403
    assert "Only ML admins may do this" in refused.json()["error"]["message"]
    assert client_of(integration).get("/api/retraining-policies/").status_code == 403

    made = client_of(ml_admin).post("/api/retraining-policies/", body, format="json")
    assert made.status_code == 201, made.json()
    policy = TrainingPolicy.objects.get()
    assert made["Location"] == f"/api/retraining-policies/{policy.pk}/"
    assert made.json() | {"created_at": None, "updated_at": None} == {
        "id": policy.pk, "name": "after 200 labels", "is_active": True, "kind": "tfidf", "hyperparameters": {},
        "label_source": "gold_and_human", "snapshot_seed": 42, "min_new_labels": 200, "schedule": "0 3 * * *",
        "benchmark_snapshot": benchmark.pk, "benchmark_split": "test", "metric": "accuracy", "min_improvement": 0.0,
        "new_labels": 0, "created_at": None, "updated_at": None,
    }  # fmt: skip
    listed = client_of(analyst).get("/api/retraining-policies/").json()
    assert [row["name"] for row in listed["results"]] == ["after 200 labels"]

    assert client_of(analyst).patch(f"/api/retraining-policies/{policy.pk}/", {"is_active": False}, format="json").status_code == 403
    changed = client_of(ml_admin).patch(f"/api/retraining-policies/{policy.pk}/", {"min_improvement": 0.01}, format="json")
    assert changed.status_code == 200 and changed.json()["min_improvement"] == 0.01


def test_a_bad_policy_is_refused_with_a_message_per_field(benchmark: DatasetSnapshot, ml_admin: Any) -> None:
    response = client_of(ml_admin).post(
        "/api/retraining-policies/",
        {
            "name": "bad",
            "benchmark_snapshot": benchmark.pk,
            "hyperparameters": {"tfidf_ngram_max": 0, "colour": "blue"},
            "label_source": "gold",
            "min_new_labels": 50,
            "schedule": "every night",
            "min_improvement": -0.1,
        },
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"hyperparameters", "min_new_labels", "schedule", "min_improvement"}
    assert "Unknown training setting 'colour'" in fields["hyperparameters"]
    assert "tfidf_ngram_max" in fields["hyperparameters"]
    assert fields["min_new_labels"].startswith("A snapshot of gold labels takes in no human label")
    assert fields["schedule"].startswith("'every night' is not a cron schedule (it has 2 fields, not 5)")
    assert not TrainingPolicy.objects.exists()


def test_running_a_policy_by_hand_queues_one_cycle_and_a_second_press_is_a_conflict(
    benchmark: DatasetSnapshot, ml_admin: Any, analyst: Any
) -> None:
    policy = policy_for(benchmark)
    assert client_of(analyst).post(f"/api/retraining-policies/{policy.pk}/run/").status_code == 403

    started = client_of(ml_admin).post(f"/api/retraining-policies/{policy.pk}/run/")
    assert started.status_code == 202, started.json()
    cycle = RetrainingCycle.objects.get()
    assert (started.json()["id"], started.json()["trigger"], started.json()["status"]) == (cycle.pk, "manual", "queued")

    again = client_of(ml_admin).post(f"/api/retraining-policies/{policy.pk}/run/")
    assert again.status_code == 409
    assert again.json()["error"]["message"] == (
        f"Policy 'nightly tf-idf' has cycle {cycle.pk} under way; wait for it to end or cancel it."
    )
    assert client_of(analyst).get(f"/api/retraining-cycles/{cycle.pk}/").json()["stage"] == "waiting"

    assert client_of(analyst).post(f"/api/retraining-cycles/{cycle.pk}/cancel/").status_code == 403
    cancelled = client_of(ml_admin).post(f"/api/retraining-cycles/{cycle.pk}/cancel/")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    deleted = client_of(ml_admin).delete(f"/api/retraining-policies/{policy.pk}/")
    assert deleted.status_code == 409
    assert "has run cycles, whose history stays" in deleted.json()["error"]["message"]


def test_the_retraining_page_shows_each_cycle_to_ml_admins_only(
    benchmark: DatasetSnapshot, ml_admin: Any, analyst: Any, client: Any
) -> None:
    policy = policy_for(benchmark, min_new_labels=100)
    RetrainingCycle.objects.create(
        policy=policy, trigger="labels", labels_added=120, status=JobStatus.SUCCEEDED, stage="done",
        candidate_metrics={"accuracy": 0.81}, current_metrics={"accuracy": 0.84}, promoted=False,
        decision="Not promoted: version 5 has accuracy 0.8100 against 0.8400 <b>for</b> the current version 4.",
    )  # fmt: skip
    client.force_login(analyst)
    assert client.get("/retraining/").status_code == 403

    client.force_login(ml_admin)
    page = client.get("/retraining/")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<a href="/retraining/" aria-current="page">Retraining</a>' in html
    assert "nightly tf-idf" in html and "0 / 100" in html and "120 new labels" in html
    assert "0.8100" in html and "kept current" in html
    assert "against 0.8400 &lt;b&gt;for&lt;/b&gt; the current version 4." in html
    assert "hx-trigger" not in html.split('id="cycles"')[1].split(">")[0], "nothing under way: no polling"

    pressed = client.post(f"/retraining/policies/{policy.pk}/run/", follow=True)
    assert "is queued; this page follows it." in pressed.content.decode()
    polled = client.get("/retraining/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="cycles")
    assert polled.status_code == 200 and 'hx-trigger="every 2s"' in polled.content.decode()
    RetrainingCycle.objects.filter(status=JobStatus.QUEUED).update(status=JobStatus.CANCELLED)
    assert client.get("/retraining/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="cycles").status_code == 286


def test_the_admin_saves_a_policy_with_its_schedule_and_refuses_a_bad_one_field_by_field(
    benchmark: DatasetSnapshot, admin_client: Any
) -> None:
    from django_celery_beat.models import PeriodicTask

    form = {
        "name": "weekly", "is_active": "on", "kind": "tfidf", "hyperparameters": '{"tfidf_c": 4.0}',
        "label_source": "gold_and_human", "snapshot_seed": "42", "min_new_labels": "", "schedule": "0 4 * * 0",
        "benchmark_snapshot": str(benchmark.pk), "benchmark_split": "test", "metric": "f1", "min_improvement": "0.01",
    }  # fmt: skip
    bad = admin_client.post("/admin/automation/trainingpolicy/add/", {**form, "hyperparameters": '{"epochs": 0}'})
    assert bad.status_code == 200
    assert "epochs: Epochs must be between 1 and 100 (got 0)." in bad.content.decode()
    assert not TrainingPolicy.objects.exists()

    saved = admin_client.post("/admin/automation/trainingpolicy/add/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    policy = TrainingPolicy.objects.get()
    assert (policy.hyperparameters, policy.metric, policy.min_improvement) == ({"tfidf_c": 4.0}, "f1", 0.01)
    assert PeriodicTask.objects.get(pk=policy.periodic_task_id).crontab.day_of_week == "0"
