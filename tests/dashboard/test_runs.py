"""The runs list, a run's page with its live part, the reviews behind a confusion-matrix cell, and run actions."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.test import Client

from apps.common.choices import JobStatus
from apps.training.models import TrainingRun
from tests.dashboard.factories import make_run, make_snapshot, snapshot_test_review_ids

HTMX_POLL = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "run-live"}


def run_links(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'href="/runs/(\d+)/"', page)]


def test_the_list_filters_by_status_kind_and_base_model_and_sorts_by_test_f1(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    ids = snapshot_test_review_ids(snapshot)
    good = make_run(snapshot, base_model="org/model-a")
    poor = make_run(snapshot, base_model="org/model-b", flip=set(ids[:4]))
    tfidf = make_run(snapshot, kind="tfidf", flip=set(ids[:2]))
    failed = make_run(snapshot, status=JobStatus.FAILED, base_model="org/model-a")

    assert run_links(analyst_client.get("/runs/?order=f1").content.decode()) == [good.pk, tfidf.pk, poor.pk, failed.pk]
    assert run_links(analyst_client.get("/runs/?status=failed").content.decode()) == [failed.pk]
    assert run_links(analyst_client.get("/runs/?kind=tfidf").content.decode()) == [tfidf.pk]
    model_a = analyst_client.get("/runs/?base_model=org/model-a&order=oldest").content.decode()
    assert run_links(model_a) == [good.pk, failed.pk]
    assert '<option value="org/model-b">org/model-b</option>' in model_a


def test_the_list_answers_htmx_with_the_results_part_only(analyst_client: Client) -> None:
    make_run(make_snapshot())

    response = analyst_client.get("/runs/?status=succeeded", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="run-results")

    page = response.content.decode()
    assert page.lstrip().startswith('<section id="run-results"')
    assert "<html" not in page


def test_a_finished_run_shows_settings_epochs_loss_chart_metrics_matrix_and_log(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    ids = snapshot_test_review_ids(snapshot)
    run = make_run(
        snapshot, losses=[(0.69, 0.61), (0.41, 0.47), (0.22, 0.52)], flip={ids[0]}, learning_rate=3e-5,
        log_tail="\n".join(f"line {n}" for n in range(100)),
    )  # fmt: skip

    page = analyst_client.get(f"/runs/{run.pk}/").content.decode()

    assert "learning_rate" in page and "3e-05" in page
    assert page.count("<polyline") == 2, "train and validation loss"
    assert 'stroke-dasharray="7 5"' in page, "validation loss is dashed"
    assert "validation loss, epoch 3: 0.5200" in page
    assert "0.4100" in page and "0.4700" in page, "the epochs table"
    assert f"{run.accuracy:.4f}" in page and f"{run.f1:.4f}" in page
    [[tn, fp], [fn, tp]] = run.confusion_matrix
    assert f'href="/runs/{run.pk}/cells/1/0/"' in page and f'href="/runs/{run.pk}/cells/0/0/"' in page
    assert f'<span class="count">{fn}</span>{100 * fn / (fn + tp):.1f}% of gold positive' in page
    assert "line 99" in page and "line 59" not in page, "only the log's tail"
    assert "hx-trigger" not in page.split('id="run-live"')[1].split(">")[0], "a finished run is not polled"


def test_a_failed_run_shows_its_error(analyst_client: Client) -> None:
    run = make_run(make_snapshot(), status=JobStatus.FAILED, error="CUDA out of memory: lower the batch size.")

    page = analyst_client.get(f"/runs/{run.pk}/").content.decode()

    assert "CUDA out of memory: lower the batch size." in page
    assert "Failed" in page


def test_a_running_run_is_polled_and_the_poll_stops_with_286_once_it_ends(analyst_client: Client) -> None:
    run = make_run(make_snapshot(), status=JobStatus.RUNNING, eta_seconds=95)

    page = analyst_client.get(f"/runs/{run.pk}/").content.decode()
    live = analyst_client.get(f"/runs/{run.pk}/", **HTMX_POLL)

    assert f'hx-get="/runs/{run.pk}/" hx-trigger="every 2s"' in page
    assert 'aria-valuenow="50.0"' in page and "step 50 of 100" in page and "about 1 min 35 s" in page
    assert live.status_code == 200
    assert live.content.decode().lstrip().startswith('<div id="run-live"')
    assert "<html" not in live.content.decode()

    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED, current_step=100)
    ended = analyst_client.get(f"/runs/{run.pk}/", **HTMX_POLL)

    assert ended.status_code == 286
    assert "Succeeded" in ended.content.decode() and "hx-trigger" not in ended.content.decode()


def test_the_live_part_carries_the_header_so_its_buttons_follow_the_runs_end(ml_admin_client: Client) -> None:
    run = make_run(make_snapshot(), status=JobStatus.RUNNING)

    cancelling = ml_admin_client.post(f"/runs/{run.pk}/cancel/", follow=True).content.decode()
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.CANCELLED, finished_at=run.started_at)
    ended = ml_admin_client.get(f"/runs/{run.pk}/", **HTMX_POLL).content.decode()

    assert f"Cancellation of run {run.pk} requested: the worker stops at its next step." in cancelling
    assert "Cancel run" not in cancelling, "one request to cancel is enough"
    assert ended.lstrip().startswith('<div id="run-live"')
    assert "Cancellation of run" not in ended and "Cancel run" not in ended
    assert "Retry" in ended and "New run like this" in ended


def test_a_queued_run_says_what_it_waits_behind(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    running = make_run(snapshot, status=JobStatus.RUNNING)
    earlier = make_run(snapshot, status=JobStatus.QUEUED)
    waiting = make_run(snapshot, status=JobStatus.QUEUED)
    tfidf = make_run(snapshot, status=JobStatus.QUEUED, kind="tfidf")

    page = analyst_client.get(f"/runs/{waiting.pk}/").content.decode()
    first = analyst_client.get(f"/runs/{earlier.pk}/").content.decode()
    light = analyst_client.get(f"/runs/{tfidf.pk}/").content.decode()
    busy = analyst_client.get(f"/runs/{running.pk}/").content.decode()

    assert f"Waiting for a free gpu worker: run {running.pk} is running; 1 queued run ahead of it." in page
    assert f"Waiting for a free gpu worker: run {running.pk} is running." in first
    assert "Waiting for a default worker to take it" in light, "TF-IDF runs queue on their own workers"
    assert "Waiting for" not in busy


def test_a_confusion_matrix_cell_lists_its_reviews_with_text_gold_prediction_and_confidence(
    analyst_client: Client,
) -> None:
    snapshot = make_snapshot()
    ids = snapshot_test_review_ids(snapshot)
    wrong = [review_id for review_id in ids[:4]]
    run = make_run(snapshot, flip=set(wrong))
    gold_of = dict(snapshot.items.values_list("review_id", "label"))
    false_positives = [review_id for review_id in wrong if gold_of[review_id] == 0]

    page = analyst_client.get(f"/runs/{run.pk}/cells/0/1/").content.decode()

    assert "Wrong: gold" in page
    assert sorted(int(pk) for pk in re.findall(r'href="/reviews/(\d+)/"', page)) == sorted(false_positives)
    assert f"{len(false_positives)} review" in page
    prediction = run.predictions.get(review_id=false_positives[0])
    assert f"{prediction.confidence:.3f}" in page
    assert prediction.review.text[:40] in page


def test_a_cell_of_an_unknown_run_or_label_is_not_found(analyst_client: Client) -> None:
    run = make_run(make_snapshot())

    assert analyst_client.get(f"/runs/{run.pk + 100}/cells/0/1/").status_code == 404
    assert analyst_client.get(f"/runs/{run.pk}/cells/2/1/").status_code == 404
    assert analyst_client.get(f"/runs/{run.pk + 100}/").status_code == 404


def test_an_ml_admin_starts_a_run_from_the_page_and_lands_on_its_progress(ml_admin_client: Client) -> None:
    snapshot = make_snapshot()
    with mock.patch("apps.training.jobs.TrainingJob.enqueue") as enqueue:
        response = ml_admin_client.post(
            "/runs/new/",
            {
                "snapshot": snapshot.pk, "kind": "tfidf", "base_model": "x", "learning_rate": "2e-5", "batch_size": 16,
                "epochs": 2, "weight_decay": 0.01, "max_length": 256, "truncation": "head", "lowercase": "on", "seed": 42,
                "warmup_ratio": 0, "tfidf_ngram_max": 3, "tfidf_min_df": 2, "tfidf_c": 16, "tfidf_nb_weighting": "on",
            },
        )  # fmt: skip

    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    assert run.kind == "tfidf" and run.created_by.username == "mia" and run.status == JobStatus.QUEUED
    enqueue.assert_called_once()


def test_a_bad_setting_is_shown_next_to_its_field_and_nothing_is_queued(ml_admin_client: Client) -> None:
    snapshot = make_snapshot()

    response = ml_admin_client.post("/runs/new/", {"snapshot": snapshot.pk, "kind": "transformer", "epochs": 0})

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_an_ml_admin_cancels_a_queued_run_and_retries_it(ml_admin_client: Client) -> None:
    run = make_run(make_snapshot(), status=JobStatus.QUEUED)

    cancelled = ml_admin_client.post(f"/runs/{run.pk}/cancel/", follow=True)
    with mock.patch("apps.training.jobs.TrainingJob.enqueue"):
        retried = ml_admin_client.post(f"/runs/{run.pk}/retry/", follow=True)

    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED
    assert f"Run {run.pk} was cancelled before it started." in cancelled.content.decode()
    retry = TrainingRun.objects.exclude(pk=run.pk).get()
    assert retry.status == JobStatus.QUEUED and retry.notes.startswith(f"Retry of run {run.pk}.")
    assert retried.redirect_chain[-1][0] == f"/runs/{retry.pk}/"


def test_cancelling_a_finished_run_says_why_it_cannot_be(ml_admin_client: Client) -> None:
    run = make_run(make_snapshot())

    page = ml_admin_client.post(f"/runs/{run.pk}/cancel/", follow=True).content.decode()

    assert "nothing to cancel" in page
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED


@pytest.mark.parametrize("method", ["get"])
def test_cancel_and_retry_take_only_posts(ml_admin_client: Client, method: str) -> None:
    run = make_run(make_snapshot(), status=JobStatus.RUNNING)

    assert ml_admin_client.get(f"/runs/{run.pk}/cancel/").status_code == 405
    assert ml_admin_client.get(f"/runs/{run.pk}/retry/").status_code == 405
