"""The one job mechanism: submitting with the broker down, the sweeper, riding out database errors, outages as 503s."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone
from rest_framework.test import APIClient

from apps.common import broker
from apps.common.choices import JobStatus
from apps.common.execution import DatabaseGuard, DatabaseOutage
from apps.common.jobs import JobRunner
from apps.common.maintenance import Maintenance, reap_stale, sweep_queued
from apps.common.roles import ANALYST, ML_ADMIN
from apps.reviews.imports import ImportRunner
from apps.reviews.models import ImportJob, Review, StagedReview
from apps.reviews.services import import_job_enqueue, review_import
from apps.training.models import TrainingRun
from sentimentsite.celery import app
from tests.brokering import stand_in_for_task
from tests.registry.factories import UserFactory, make_reviews
from workers.tasks.imports import run_import_job
from workers.tasks.training import run_training

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """What would have gone to the broker, by task."""
    messages: list[tuple[str, dict[str, Any]]] = []
    stand_in_for_task(monkeypatch, run_training.name, lambda **kw: messages.append(("training", kw)))
    stand_in_for_task(monkeypatch, run_import_job.name, lambda **kw: messages.append(("import", kw)))
    return messages


DEAD_BROKER = "redis://127.0.0.1:9/0"


def take_broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections go to an address that answers nothing (a closed port on this machine)."""
    connect = type(app).connection_for_write
    monkeypatch.setattr(app, "connection_for_write", lambda url=None, **kw: connect(app, DEAD_BROKER, **kw))


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    take_broker_down(monkeypatch)


@pytest.fixture
def admin_api() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(username="ops", roles=[ML_ADMIN]))
    return client


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text("review,sentiment\nA fine film.,positive\nA dull film.,negative\n", encoding="utf-8")
    return path


def test_every_kind_of_background_work_is_a_declared_job_kind() -> None:
    labels = set(JobRunner.kinds)
    assert {"reviews.ImportJob", "training.TrainingRun", "training.EvaluationRun", "predictions.BatchPredictionJob"} <= labels


def test_with_the_broker_down_a_run_is_refused_with_a_503_and_nothing_is_written(
    broker_down: None, admin_api: APIClient
) -> None:
    snapshot = _snapshot()
    answer = admin_api.post(
        "/api/training-runs/", {"snapshot": snapshot.pk, "kind": "tfidf"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert answer.status_code == 503
    assert answer["Retry-After"].isdigit()
    assert answer.json()["error"]["code"] == "broker_unavailable"
    assert "nothing was queued" in answer.json()["error"]["message"]
    assert not TrainingRun.objects.exists()


def test_a_retry_with_the_same_idempotency_key_after_the_broker_is_back_queues_the_run(
    monkeypatch: pytest.MonkeyPatch, admin_api: APIClient, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    snapshot = _snapshot()
    take_broker_down(monkeypatch)
    body = {"snapshot": snapshot.pk, "kind": "tfidf"}
    assert admin_api.post("/api/training-runs/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2").status_code == 503

    monkeypatch.undo()
    stand_in_for_task(monkeypatch, run_training.name, lambda **kw: sent.append(("training", kw)))
    with django_capture_on_commit_callbacks(execute=True):
        again = admin_api.post("/api/training-runs/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    assert again.status_code == 202
    assert "Idempotent-Replayed" not in again
    run = TrainingRun.objects.get()
    assert [task for task, _ in sent] == ["training"]
    assert run.dispatched_at is not None


def test_a_job_whose_send_failed_stays_queued_and_the_sweeper_sends_it(
    monkeypatch: pytest.MonkeyPatch, csv_file: Path, django_capture_on_commit_callbacks: Any
) -> None:
    def broker_gone(**_: Any) -> None:
        raise ConnectionError("connection refused")

    stand_in_for_task(monkeypatch, run_import_job.name, broker_gone)
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_enqueue(source=str(csv_file))
    job.refresh_from_db()
    assert (job.status, job.dispatched_at) == (JobStatus.QUEUED, None)

    sent: list[dict[str, Any]] = []
    stand_in_for_task(monkeypatch, run_import_job.name, lambda **kw: sent.append(kw))
    assert sweep_queued() == 0, "a job just committed gets a moment for its own send"
    assert sweep_queued(now=timezone.now() + timedelta(seconds=30)) == 1

    assert sent == [{"args": [job.pk], "queue": "default", "task_id": job.celery_task_id}]
    job.refresh_from_db()
    assert job.dispatched_at is not None


def test_the_sweeper_sends_again_only_the_jobs_whose_message_left_the_broker(
    monkeypatch: pytest.MonkeyPatch, csv_file: Path, sent: list[Any]
) -> None:
    long_ago = timezone.now() - timedelta(minutes=10)
    lost = ImportJob.objects.create(source=str(csv_file), celery_task_id=str(uuid.uuid4()), dispatched_at=long_ago)
    waiting = ImportJob.objects.create(source=str(csv_file), celery_task_id=str(uuid.uuid4()), dispatched_at=long_ago)
    ImportJob.objects.create(source=str(csv_file), celery_task_id="", dispatched_at=long_ago)  # run in-process
    monkeypatch.setattr(broker, "task_ids_waiting", lambda queues: {waiting.celery_task_id})

    assert sweep_queued() == 1

    assert [(task, kw["args"]) for task, kw in sent] == [("import", [lost.pk])]


def test_the_broker_is_inspected_for_waiting_messages_by_task_id() -> None:
    task_id = str(uuid.uuid4())
    run_import_job.apply_async(args=[0], queue="sweeper-inspection-test", task_id=task_id)
    try:
        assert task_id in (broker.task_ids_waiting(["sweeper-inspection-test"]) or set())
        assert task_id not in (broker.task_ids_waiting(["default"]) or set())
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("sweeper-inspection-test")


# Outside a test transaction, as on a worker: inside one, nothing can be retried.
@pytest.mark.django_db(transaction=True)
def test_a_database_error_is_retried_until_the_database_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("apps.common.execution.time.sleep", lambda seconds: None)
    failures = iter([OperationalError("server closed the connection"), OperationalError("connection refused")])

    def flaky() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "written"

    guard = DatabaseGuard("training run")
    assert guard.call(flaky) == "written"
    assert guard.down_since is None


# Outside a test transaction, as on a worker: inside one, nothing can be retried.
@pytest.mark.django_db(transaction=True)
def test_an_outage_longer_than_the_limit_stops_the_job_with_a_message_naming_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("apps.common.execution.time.sleep", lambda seconds: None)

    def down() -> None:
        raise OperationalError("connection refused")

    with pytest.raises(DatabaseOutage, match="The database was unreachable for more than 0 s"):
        DatabaseGuard("import", limit=0).call(down)


# Outside a test transaction, as on a worker: inside one, nothing can be retried.
@pytest.mark.django_db(transaction=True)
def test_progress_is_kept_while_the_database_is_down_and_written_when_it_is_back(
    monkeypatch: pytest.MonkeyPatch, csv_file: Path
) -> None:
    job = ImportJob.objects.create(source=str(csv_file))
    job.mark_running(worker="here")
    runner = ImportRunner(job)
    real_update = type(ImportJob.objects.all()).update
    down = {"now": True}

    def update(queryset: Any, **values: Any) -> int:
        if down["now"]:
            raise OperationalError("the database system is shutting down")
        return real_update(queryset, **values)

    monkeypatch.setattr(type(ImportJob.objects.all()), "update", update)
    runner.progress({"type": "step", "step": 5000, "total_steps": 9000})
    assert runner.progress.pending == {"rows_read": 5000}
    assert runner.db.down_since is not None

    down["now"] = False
    runner.progress.flush()
    job.refresh_from_db()
    assert job.rows_read == 5000
    assert runner.db.down_since is None


# Outside a test transaction, as on a worker: inside one, nothing can be retried.
@pytest.mark.django_db(transaction=True)
def test_after_a_database_outage_reaping_waits_until_heartbeats_could_be_written_again(settings: Any) -> None:
    settings.RUN_STALE_AFTER_SECONDS = 60
    job = ImportJob.objects.create(source="x.csv")
    job.mark_running(worker="w1")
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=90))
    maintenance = Maintenance()
    maintenance.healthy_since = float("inf")  # the last round could not reach the database

    maintenance.once()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING

    maintenance.healthy_since -= 61
    maintenance.once()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "stopped sending heartbeats" in job.error and "import" in job.error


def test_an_api_request_during_a_database_outage_gets_a_503_with_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = APIClient()
    client.force_authenticate(UserFactory(username="reader", roles=[ANALYST]))

    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr("apps.reviews.api.ReviewListView.get", unreachable)
    answer = client.get("/api/reviews/")

    assert answer.status_code == 503
    assert answer["Retry-After"].isdigit()
    assert answer.json()["error"]["code"] == "database_unavailable"


def test_a_page_during_a_database_outage_gets_the_briefly_unavailable_page(
    monkeypatch: pytest.MonkeyPatch, client: Any, static_files_as_in_development: None
) -> None:
    client.force_login(UserFactory(username="reader", roles=[ANALYST]))

    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr("apps.dashboard.views.home.current_model_version", unreachable)
    page = client.get("/")

    assert page.status_code == 503
    assert page["Retry-After"].isdigit()
    assert "The platform is briefly unavailable" in page.content.decode()


def test_a_queued_import_is_cancelled_through_the_api_and_a_finished_one_refuses(
    admin_api: APIClient, csv_file: Path, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_enqueue(source=str(csv_file))

    answer = admin_api.post(f"/api/imports/{job.pk}/cancel/")
    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled"
    assert ImportRunner.handle(job.pk, worker="late") is None, "a cancelled import is never run"

    again = admin_api.post(f"/api/imports/{job.pk}/cancel/")
    assert again.status_code == 409
    assert "nothing to cancel" in again.json()["error"]["message"]


def test_a_failed_import_leaves_no_staged_rows_and_no_reviews(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("review,sentiment\nFine.,positive\nBroken.,sideways\n", encoding="utf-8")

    with pytest.raises(Exception, match="sideways"):
        review_import(source=str(bad))

    assert not Review.objects.exists()
    assert not StagedReview.objects.exists()


def test_the_reaper_removes_what_a_killed_import_staged() -> None:
    job = ImportJob.objects.create(source="big.csv")
    job.mark_running(worker="killed")
    StagedReview.objects.create(job=job, position=0, text="half", external_id="1")
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    assert reap_stale() == 1

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert not StagedReview.objects.filter(job=job).exists()
    assert not Review.objects.exists()


def test_a_background_import_with_no_worker_says_so_and_how_to_withdraw_it(
    csv_file: Path, sent: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("apps.reviews.management.commands.import_reviews.NO_WORKER_WARNING_SECONDS", 0.0)
    with pytest.raises(CommandError) as refused:
        call_command("import_reviews", str(csv_file), "--background", "--timeout", "1")

    message = str(refused.value)
    assert "no worker has taken it" in message
    assert "cancel_import" in message


def _snapshot() -> Any:
    from apps.reviews.snapshots import snapshot_create

    make_reviews(40, labelled=True)
    return snapshot_create(name="jobs", seed=1)
