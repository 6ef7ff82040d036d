"""The home page: the current model and its promotion, labelling progress, runs in progress, recent predictions."""

from __future__ import annotations

from typing import Any

from django.test import Client

from apps.common.choices import JobStatus
from apps.labelling.models import Annotation, Resolution
from apps.predictions.models import Prediction
from apps.registry.models import ModelVersion, Promotion
from apps.reviews.models import Review
from apps.training.models import TrainingRun
from tests.dashboard.factories import make_labelled_reviews, make_run, make_snapshot
from tests.registry.factories import UserFactory

POLL = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "active-runs"}


def test_home_names_the_current_model_its_scores_and_who_promoted_it_when(analyst_client: Client, ml_admin: Any) -> None:
    run = make_run(make_snapshot(), base_model="org/fine-model")
    version = run.model_version
    ModelVersion.objects.filter(pk=version.pk).update(is_current=True)
    Promotion.objects.create(to_version=version, promoted_by=ml_admin, reason="best F1 so far")

    page = analyst_client.get("/").content.decode()

    assert f"{version}" in page and "org/fine-model" in page
    assert f"{version.test_accuracy:.4f}" in page and f"{version.test_f1:.4f}" in page
    assert "by mia" in page and "best F1 so far" in page


def test_home_says_when_no_model_is_current(analyst_client: Client) -> None:
    assert "No model is current yet" in analyst_client.get("/").content.decode()


def test_home_shows_labelling_progress(analyst_client: Client, analyst: Any) -> None:
    make_labelled_reviews(6)
    unlabelled = Review.objects.bulk_create(
        Review(text=f"unlabelled {n}", source="dash", external_id=f"u{n}") for n in range(4)
    )
    other = UserFactory(username="other")
    Annotation.objects.bulk_create(
        [
            Annotation(review=unlabelled[0], user=analyst, label=1),
            Annotation(review=unlabelled[0], user=other, label=1),
            Annotation(review=unlabelled[1], user=analyst, label=0),
        ]
    )
    Resolution.objects.create(review=unlabelled[0], label=1, method="unanimous")

    page = analyst_client.get("/").content.decode()

    assert "7 of 10 reviews labelled" in page
    assert 'aria-valuenow="70.0"' in page
    assert "1 annotated reviews" in page, "the second review awaits resolution"
    assert "3 annotations by 2 analysts" in page


def test_home_shows_runs_in_progress_with_progress_bars_and_keeps_polling_when_none_is_left(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    running = make_run(snapshot, status=JobStatus.RUNNING)
    queued = make_run(snapshot, status=JobStatus.QUEUED)
    make_run(snapshot)

    page = analyst_client.get("/").content.decode()
    poll = analyst_client.get("/", **POLL)

    assert f'href="/runs/{running.pk}/">Run {running.pk}' in page and f'href="/runs/{queued.pk}/">Run {queued.pk}' in page
    assert 'aria-label="Progress of run' in page and 'hx-trigger="every 2s"' in page
    assert poll.status_code == 200 and poll.content.decode().lstrip().startswith('<section id="active-runs"')

    TrainingRun.objects.filter(pk__in=[running.pk, queued.pk]).update(status=JobStatus.CANCELLED)
    done = analyst_client.get("/", **POLL)

    assert done.status_code == 200, "never 286: a run may start later"
    assert "No run is queued or running" in done.content.decode()
    assert 'hx-trigger="every 10s"' in done.content.decode()


def test_a_run_queued_after_the_home_page_loaded_shows_up_in_the_next_poll(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    make_run(snapshot)

    page = analyst_client.get("/").content.decode()

    assert "No run is queued or running" in page
    runs_part = page[page.index('<section id="active-runs"') :]
    assert 'hx-get="/"' in runs_part.split(">", 1)[0] and 'hx-trigger="every 10s"' in runs_part.split(">", 1)[0]

    queued = make_run(snapshot, status=JobStatus.QUEUED)
    poll = analyst_client.get("/", **POLL)

    assert poll.status_code == 200
    body = poll.content.decode()
    assert f'href="/runs/{queued.pk}/">Run {queued.pk}' in body
    assert 'hx-trigger="every 2s"' in body, "polls faster while a run is queued or running"


def test_home_lists_recent_predictions(analyst_client: Client) -> None:
    run = make_run(make_snapshot())
    Prediction.objects.create(
        text="A film of rare charm.", model_version=run.model_version, label=1, confidence=0.934,
        prob_negative=0.066, prob_positive=0.934, source="form",
    )  # fmt: skip

    page = analyst_client.get("/").content.decode()

    assert "A film of rare charm." in page and "0.934" in page and "Prediction form" in page


def test_the_first_run_is_named_on_home_and_its_model_shows_up_current_with_the_next_poll(
    analyst_client: Client, settings: Any
) -> None:
    settings.AUTO_PROMOTE = True
    snapshot = make_snapshot()
    baseline = make_run(snapshot, status=JobStatus.RUNNING, kind="tfidf")

    page = analyst_client.get("/").content.decode()

    assert "No model is current yet" in page
    assert f"Run <a href=\"/runs/{baseline.pk}/\">{baseline.pk}</a> (the TF-IDF baseline) is running." in page
    assert "It becomes the current model when it succeeds" in page
    assert "Next steps" not in page

    TrainingRun.objects.filter(pk=baseline.pk).delete()
    version = make_run(snapshot, kind="tfidf").model_version
    ModelVersion.objects.filter(pk=version.pk).update(is_current=True)
    poll = analyst_client.get("/", **POLL).content.decode()

    assert poll.lstrip().startswith('<section id="active-runs"'), "the polled part comes first"
    card = poll[poll.index('<section id="current-model-card"') :]
    assert 'hx-swap-oob="true"' in card.split(">", 1)[0]
    assert f"{version}" in card and "No model is current yet" not in card

    later = analyst_client.get("/").content.decode()
    assert "Next steps" in later and 'href="/labelling/"' in later and 'href="/runs/"' in later
    assert 'hx-swap-oob' not in later, "the whole page carries the card in place"


def test_with_no_snapshot_an_ml_admin_is_pointed_to_the_page_that_makes_one(ml_admin_client: Client) -> None:
    make_labelled_reviews(6)

    page = ml_admin_client.get("/").content.decode()

    assert "No snapshots yet." in page and '<a href="/labelling/snapshot/">Make one</a>' in page
