"""Batch prediction jobs: through a real worker, in this process, cancelled, failed, and refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.common.choices import TERMINAL_STATUSES, JobStatus
from apps.common.maintenance import reap_stale
from apps.common.models import IllegalTransition
from apps.common.roles import ANALYST, role_group
from apps.predictions.batch import (
    BatchJobError,
    batch_prediction_job_cancel,
    batch_prediction_job_create,
    batch_prediction_job_errors,
)
from apps.labelling.choices import QueueStrategy
from apps.labelling.services import queue_create
from apps.predictions.models import BatchPredictionJob, Prediction
from apps.predictions.runners import batch_prediction_job_execute
from apps.registry.models import ModelVersion
from apps.reviews.models import ImportJob, Review, SnapshotItem
from tests.brokering import stand_in_for_task
from tests.conftest import WorkerProcess, wait_until
from tests.registry.factories import (
    SnapshotFactory,
    make_reviews,
    make_version,
    tamper,
    train_tfidf_artifact,
    train_tiny_transformer_artifact,
)
from workers.ml.inference import load_model
from workers.tasks.predictions import run_batch_prediction

MakeVersion = Callable[..., ModelVersion]


@pytest.fixture(autouse=True)
def _static_root(settings: Any, tmp_path: Path) -> None:
    # WhiteNoise warns about a missing STATIC_ROOT when admin pages are served.
    settings.STATIC_ROOT = tmp_path


@pytest.fixture(scope="session")
def batch_tfidf_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf_artifact(tmp_path_factory.mktemp("batch-tfidf"))


@pytest.fixture
def tfidf_version(batch_tfidf_artifact: Path, db: None) -> ModelVersion:
    return make_version(batch_tfidf_artifact)


def finished(job: BatchPredictionJob, worker: WorkerProcess | None = None, timeout: float = 120) -> BatchPredictionJob:
    def done() -> bool:
        job.refresh_from_db()
        return job.status in TERMINAL_STATUSES

    try:
        wait_until(done, timeout=timeout, interval=0.2, what=f"batch job {job.pk} to finish")
    except BaseException:
        if worker is not None:
            print(worker.log())
        raise
    return job


def predicted_review_ids(job: BatchPredictionJob) -> list[int]:
    return sorted(job.predictions.values_list("review_id", flat=True))


# --- Through the worker ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_batch_job_on_the_worker_predicts_every_unlabelled_review_and_stores_the_predictions(
    celery_worker_process: WorkerProcess, tfidf_version: ModelVersion, artifact_root: Path
) -> None:
    unlabelled = make_reviews(30, labelled=False, seed=1)
    make_reviews(10, labelled=True, seed=2)

    job = batch_prediction_job_create(model_version=tfidf_version, pool="unlabelled")
    finished(job, celery_worker_process)

    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{job.log_tail}"
    assert job.worker.startswith("test-")
    assert (job.total, job.processed) == (30, 30)
    assert job.started_at is not None and job.finished_at is not None
    predictions = list(job.predictions.select_related("review").order_by("review_id"))
    assert [p.review_id for p in predictions] == [review.pk for review in unlabelled]
    assert {(p.source, p.model_version_id, p.batch_job_id) for p in predictions} == {("batch", tfidf_version.pk, job.pk)}
    assert all(p.text == "" and p.shown_text == p.review.text for p in predictions), "they refer to the reviews"
    expected = load_model(artifact_root / tfidf_version.artifact_path).predict([p.review.text for p in predictions])
    assert [p.label for p in predictions] == [row["label"] for row in expected]
    assert [p.confidence for p in predictions] == pytest.approx([row["confidence"] for row in expected])
    assert all(p.prob_negative + p.prob_positive == pytest.approx(1.0) for p in predictions)
    assert "Predicting 30 reviews of pool unlabelled" in job.log_tail
    assert "Succeeded: 30 predictions stored." in job.log_tail


@pytest.mark.django_db(transaction=True)
def test_a_transformer_version_predicts_on_the_gpu_queue_worker(
    celery_worker_process: WorkerProcess, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    artifact = train_tiny_transformer_artifact(tmp_path, tiny_bert_dir)
    version = make_version(artifact, kind="transformer", base_model=str(tiny_bert_dir))
    make_reviews(12, labelled=False)

    job = batch_prediction_job_create(model_version=version, pool="all")
    finished(job, celery_worker_process)

    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{job.log_tail}"
    assert (job.total, job.processed, job.predictions.count()) == (12, 12, 12)


# --- Queueing --------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "queue"), [("tfidf", "default"), ("transformer", "gpu")])
def test_a_job_is_sent_when_the_transaction_commits_to_the_queue_of_its_model_kind(
    kind: str, queue: str, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    version = ModelVersion.objects.create(kind=kind, artifact_path="anywhere")
    sent: list[dict[str, Any]] = []
    stand_in_for_task(monkeypatch, run_batch_prediction.name, lambda **kwargs: sent.append(kwargs))

    with django_capture_on_commit_callbacks(execute=True):
        job = batch_prediction_job_create(model_version=version, pool="all")
        assert sent == []

    assert sent == [{"args": [job.pk], "queue": queue, "task_id": job.celery_task_id}]
    assert job.status == JobStatus.QUEUED


# --- In this process -------------------------------------------------------------------------------------

# The heartbeat thread has a connection of its own, so these tests commit like a worker would.


@pytest.mark.django_db(transaction=True)
def test_each_pool_selects_its_reviews(tfidf_version: ModelVersion) -> None:
    imported = ImportJob.objects.create(source="reviews.csv", status=JobStatus.SUCCEEDED)
    from_import = make_reviews(4, labelled=True, seed=5, import_job=imported)
    unlabelled = make_reviews(3, labelled=False, seed=6)
    snapshot = SnapshotFactory()
    in_test = make_reviews(5, labelled=True, seed=7)
    SnapshotItem.objects.bulk_create(
        SnapshotItem(snapshot=snapshot, review=review, split="test" if n < 3 else "train", label=1, position=n)
        for n, review in enumerate(in_test)
    )
    pools = {
        "unlabelled": ({}, [r.pk for r in unlabelled]),
        "import": ({"import_job": imported}, [r.pk for r in from_import]),
        "snapshot_split": ({"snapshot": snapshot, "split": "test"}, [r.pk for r in in_test[:3]]),
        "all": ({}, sorted(Review.objects.values_list("pk", flat=True))),
    }

    for pool, (arguments, expected) in pools.items():
        job = batch_prediction_job_create(model_version=tfidf_version, pool=pool, enqueue=False, **arguments)
        batch_prediction_job_execute(job_id=job.pk, worker="here")
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, (pool, job.error)
        assert predicted_review_ids(job) == expected, pool
        assert job.total == job.processed == len(expected)


def test_a_batch_job_of_the_current_model_reorders_the_model_assisted_labelling_queues(
    tfidf_version: ModelVersion, batch_tfidf_artifact: Path
) -> None:
    make_reviews(8, labelled=False, seed=9)
    analyst = User.objects.create_user("annie")
    analyst.groups.add(role_group(ANALYST))
    uncertain, _ = queue_create(name="least sure first", strategy=QueueStrategy.UNCERTAINTY, annotators=[analyst])
    shuffled, _ = queue_create(name="shuffled", strategy=QueueStrategy.RANDOM, annotators=[analyst])
    shuffled_order = list(shuffled.items.order_by("rank").values_list("review_id", flat=True))
    other = make_version(batch_tfidf_artifact)

    # Predictions of a version that is not current order nothing.
    not_current = batch_prediction_job_create(model_version=other, pool="unlabelled", enqueue=False)
    batch_prediction_job_execute(job_id=not_current.pk, worker="here")
    uncertain.refresh_from_db()
    assert uncertain.ordered_with is None
    assert "Reordered" not in BatchPredictionJob.objects.get(pk=not_current.pk).log_tail

    ModelVersion.objects.filter(pk=tfidf_version.pk).update(is_current=True)
    job = batch_prediction_job_create(model_version=tfidf_version, pool="unlabelled", enqueue=False)
    batch_prediction_job_execute(job_id=job.pk, worker="here")

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert "Reordered 1 labelling queue(s) with these predictions" in job.log_tail
    assert "least sure first" in job.log_tail
    uncertain.refresh_from_db()
    assert uncertain.ordered_with_id == tfidf_version.pk
    confidence = dict(job.predictions.values_list("review_id", "confidence"))
    served = list(uncertain.items.order_by("rank").values_list("review_id", flat=True))
    assert [confidence[review_id] for review_id in served] == sorted(confidence.values())
    # A random queue keeps its order.
    assert list(shuffled.items.order_by("rank").values_list("review_id", flat=True)) == shuffled_order


@pytest.mark.django_db(transaction=True)
def test_a_running_job_stops_between_chunks_when_cancelled_and_keeps_what_it_predicted(
    tfidf_version: ModelVersion, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    make_reviews(20, labelled=False)
    settings.BATCH_CHUNK_SIZE = 5
    job = batch_prediction_job_create(model_version=tfidf_version, pool="unlabelled", enqueue=False)
    real_load = load_model

    def load_and_cancel_after_the_first_chunk(path: Path, **kwargs: Any) -> Any:
        model = real_load(path, **kwargs)
        predict = model.predict

        def predict_then_cancel(texts: list[str], batch_size: int = 32) -> Any:
            answers = predict(texts, batch_size)
            batch_prediction_job_cancel(job=BatchPredictionJob.objects.get(pk=job.pk))
            return answers

        model.predict = predict_then_cancel  # type: ignore[method-assign]
        return model

    monkeypatch.setattr("workers.ml.inference.load_model", load_and_cancel_after_the_first_chunk)

    batch_prediction_job_execute(job_id=job.pk, worker="here")

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert (job.total, job.processed, job.predictions.count()) == (20, 5, 5)
    assert "Cancellation requested" in job.log_tail and "Cancelled." in job.log_tail
    assert job.finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_queued_job_is_cancelled_at_once_and_a_finished_one_cannot_be(tfidf_version: ModelVersion) -> None:
    queued = batch_prediction_job_create(model_version=tfidf_version, pool="all", enqueue=False)

    batch_prediction_job_cancel(job=queued)

    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    assert batch_prediction_job_execute(job_id=queued.pk) is None
    with pytest.raises(IllegalTransition, match="has already cancelled: there is nothing to cancel"):
        batch_prediction_job_cancel(job=queued)


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_model_fails_its_checksums_fails_with_the_reason_and_stores_nothing(
    tfidf_version: ModelVersion,
) -> None:
    make_reviews(5, labelled=False)
    tamper(tfidf_version)
    job = batch_prediction_job_create(model_version=tfidf_version, pool="unlabelled", enqueue=False)

    batch_prediction_job_execute(job_id=job.pk, worker="here")

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "failed its integrity check" in job.error and "weights.safetensors" in job.error
    assert not Prediction.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_predict_batch_now_predicts_in_this_process_and_reports_it(tfidf_version: ModelVersion) -> None:
    make_reviews(6, labelled=False)
    out = StringIO()

    call_command("predict_batch", "--model-version", str(tfidf_version.pk), "--pool", "unlabelled", "--now", stdout=out)

    job = BatchPredictionJob.objects.get()
    assert job.status == JobStatus.SUCCEEDED and job.predictions.count() == 6
    assert out.getvalue().endswith(
        f"Batch prediction job {job.pk} succeeded: 6 of 6 reviews predicted with model version {tfidf_version.pk}.\n"
    )


# --- Refused arguments -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "errors"),
    [
        ({"pool": "everything"}, {"pool": "Unknown pool 'everything': choose one of unlabelled, snapshot_split, import, all."}),
        (
            {"pool": "snapshot_split", "split": "holdout"},
            {
                "snapshot": "Choose the snapshot whose split to predict.",
                "split": "Choose the split to predict: one of train, validation, test (got 'holdout').",
            },
        ),
        ({"pool": "import"}, {"import_job": "Choose the import whose reviews to predict."}),
        (
            {"pool": "unlabelled", "split": "test"},
            {"split": "A split applies only to the snapshot_split pool; leave it empty or choose that pool."},
        ),
    ],
    ids=["unknown pool", "snapshot split without snapshot", "import without import", "split on another pool"],
)
def test_bad_pool_arguments_are_refused_with_a_message_per_field(
    tfidf_version: ModelVersion, arguments: dict[str, Any], errors: dict[str, str]
) -> None:
    with pytest.raises(BatchJobError) as refused:
        batch_prediction_job_create(model_version=tfidf_version, **arguments)

    assert refused.value.errors == errors
    assert not BatchPredictionJob.objects.exists()


@pytest.mark.django_db
def test_a_job_needs_a_model_version() -> None:
    assert batch_prediction_job_errors(model_version=None, pool="all") == {
        "model_version": "Choose the model version to predict with."
    }


@pytest.mark.django_db
def test_the_command_names_what_was_wrong(tfidf_version: ModelVersion) -> None:
    with pytest.raises(CommandError, match="--snapshot: Choose the snapshot whose split to predict."):
        call_command("predict_batch", "--model-version", str(tfidf_version.pk), "--pool", "snapshot_split", "--split", "test")
    with pytest.raises(CommandError, match="--model-version: there is no model version 999."):
        call_command("predict_batch", "--model-version", "999", "--pool", "all")


@pytest.mark.django_db
def test_the_command_queues_the_job_by_default(
    tfidf_version: ModelVersion, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    stand_in_for_task(monkeypatch, run_batch_prediction.name, lambda **kwargs: None)
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("predict_batch", "--model-version", str(tfidf_version.pk), "--pool", "all", stdout=out)

    job = BatchPredictionJob.objects.get()
    assert out.getvalue().startswith(f"Queued batch prediction job {job.pk} on the default queue")


# --- Admin -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_creates_a_job_through_the_service_and_shows_refusals_beside_the_fields(
    admin_client: Any,
    admin_user: Any,
    tfidf_version: ModelVersion,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[dict[str, Any]] = []
    stand_in_for_task(monkeypatch, run_batch_prediction.name, lambda **kwargs: sent.append(kwargs))
    add = reverse("admin:predictions_batchpredictionjob_add")

    refused = admin_client.post(add, {"model_version": tfidf_version.pk, "pool": "snapshot_split", "split": "test"})
    with django_capture_on_commit_callbacks(execute=True):
        created = admin_client.post(add, {"model_version": tfidf_version.pk, "pool": "unlabelled"}, follow=True)

    assert refused.status_code == 200 and "Choose the snapshot whose split to predict." in refused.content.decode()
    job = BatchPredictionJob.objects.get()
    assert (job.pool, job.created_by, job.status) == ("unlabelled", admin_user, JobStatus.QUEUED)
    assert f"Queued batch prediction job {job.pk} on the default queue." in created.content.decode()
    assert [call["args"] for call in sent] == [[job.pk]]


@pytest.mark.django_db
def test_the_admin_shows_progress_and_cancels_jobs(admin_client: Any, tfidf_version: ModelVersion) -> None:
    job = batch_prediction_job_create(model_version=tfidf_version, pool="all", enqueue=False)
    BatchPredictionJob.objects.filter(pk=job.pk).update(total=40, processed=10)
    changelist = reverse("admin:predictions_batchpredictionjob_changelist")

    listing = admin_client.get(changelist).content.decode()
    cancelled = admin_client.post(changelist, {"action": "cancel_jobs", ACTION_CHECKBOX_NAME: [job.pk]}, follow=True)

    assert "25% (10/40 reviews)" in listing
    assert f"Cancelled {job.pk}" in cancelled.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_a_running_job_whose_worker_stopped_sending_heartbeats_is_marked_failed(
    tfidf_version: ModelVersion, settings: Any
) -> None:
    settings.RUN_STALE_AFTER_SECONDS = 60
    job = batch_prediction_job_create(model_version=tfidf_version, pool="unlabelled", enqueue=False)
    job.mark_running(worker="cpu-3")

    assert reap_stale(now=timezone.now() + timedelta(seconds=61)) == 1

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "stopped sending heartbeats" in job.error and "cpu-3" in job.error
