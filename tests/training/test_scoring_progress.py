"""A run says what it scores after its last step, and a quick trial scores a sample of the splits only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from apps.common.choices import JobStatus
from apps.common.roles import ANALYST
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import snapshot_create
from apps.training.models import TrainingRun
from apps.training.runners import training_run_execute
from apps.training.services import RunConfigError, training_run_create
from tests.registry.factories import UserFactory, make_reviews
from tests.training.conftest import tiny_transformer_settings

# The heartbeat thread has a connection of its own, so these tests commit like a worker would.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_transformer_run_reports_scoring_the_validation_and_test_splits_and_the_page_shows_it(
    snapshot: DatasetSnapshot, tiny_bert_dir: Path, client: Client, static_files_as_in_development: None
) -> None:
    run = training_run_create(snapshot=snapshot, enqueue=False, **tiny_transformer_settings(tiny_bert_dir, epochs=1))
    phases: list[dict[str, Any]] = []
    pages: list[str] = []
    client.force_login(UserFactory(username="ana", roles=[ANALYST]))

    def watch(event: dict[str, Any]) -> None:
        if event["type"] == "phase":
            phases.append(event)
            if event["phase"] == "test" and len(pages) < 1:
                TrainingRun.objects.filter(pk=run.pk).update(
                    phase="test", phase_done=event["done"], phase_total=event["total"], phase_eta_seconds=3
                )
                pages.append(client.get(f"/runs/{run.pk}/").content.decode())

    finished = training_run_execute(run_id=run.pk, worker="here", on_progress=watch)

    assert finished is not None and finished.status == JobStatus.SUCCEEDED, finished and finished.error
    seen = {event["phase"] for event in phases}
    assert seen == {"validation", "test"}
    test_events = [event for event in phases if event["phase"] == "test"]
    assert test_events[-1]["done"] == test_events[-1]["total"] == snapshot.test_count
    assert "Scoring the test split:" in pages[0] and f"of {snapshot.test_count} reviews" in pages[0]
    assert "for the test split" in pages[0], "the time left is the scoring's, not a finished training's 0 s"


def test_a_quick_trial_scores_a_sample_of_the_test_split_and_says_so(
    client: Client, static_files_as_in_development: None
) -> None:
    make_reviews(200, labelled=True)
    snapshot = snapshot_create(name="two hundred")
    assert snapshot.test_count > 10
    run = training_run_create(snapshot=snapshot, enqueue=False, kind="tfidf", eval_subset_size=10)

    finished = training_run_execute(run_id=run.pk, worker="here")

    assert finished is not None and finished.status == JobStatus.SUCCEEDED, finished and finished.error
    assert sum(map(sum, finished.confusion_matrix)) == 10
    assert finished.predictions.count() == 10
    assert finished.metrics["test_reviews_in_snapshot"] == snapshot.test_count
    client.force_login(UserFactory(username="ana", roles=[ANALYST]))
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "a sample of 10 of the snapshot" in page


def test_a_sample_smaller_than_ten_reviews_is_refused() -> None:
    with pytest.raises(RunConfigError, match="eval_subset_size: Reviews scored must be"):
        training_run_create(snapshot=None, kind="tfidf", eval_subset_size=3)  # type: ignore[arg-type]
