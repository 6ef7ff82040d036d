from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.reviews.models import DatasetSnapshot, Review


def bootstrap(**options: object) -> str:
    out = StringIO()
    call_command("bootstrap", stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_the_first_run_creates_an_admin_and_says_how_to_log_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PASSWORD", "a-long-test-password")
    output = bootstrap(skip_import=True)
    assert "as 'admin' with password 'a-long-test-password'" in output
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("a-long-test-password")
    assert bootstrap(skip_import=True) == ""
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_an_empty_database_without_a_reachable_source_stops_with_advice(settings, tmp_path: Path) -> None:
    settings.IMDB_SOURCE = str(tmp_path / "nowhere")
    with pytest.raises(CommandError, match=r"IMDB_SOURCE=\.\./shared/data/imdb make run"):
        bootstrap()
    assert Review.objects.count() == 0


@pytest.mark.django_db
def test_an_empty_database_imports_imdb_from_the_configured_source(settings, tmp_path: Path) -> None:
    source = tmp_path / "imdb.jsonl"
    source.write_text('{"text": "Great.", "label": 1}\n{"text": "Bad.", "label": 0}\n', encoding="utf-8")
    settings.IMDB_SOURCE = str(source)
    output = bootstrap(verbosity=0)
    assert "importing IMDb from" in output
    assert Review.objects.count() == 2
    bootstrap(verbosity=0)
    assert Review.objects.count() == 2


@pytest.mark.django_db
def test_the_first_start_makes_the_default_snapshot_and_queues_the_tfidf_baseline(settings) -> None:
    from apps.training.models import TrainingRun
    from tests.dashboard.factories import make_labelled_reviews

    settings.AUTO_PROMOTE = True
    make_labelled_reviews(40)

    output = bootstrap(verbosity=0)

    snapshot = DatasetSnapshot.objects.get()
    run = TrainingRun.objects.get()
    assert snapshot.name == "default" and snapshot.train_count + snapshot.validation_count + snapshot.test_count == 40
    assert (run.kind, run.status, run.snapshot_id) == ("tfidf", "queued", snapshot.pk)
    assert "Made the default snapshot 'default'" in output
    assert f"Queued run {run.pk}, the TF-IDF baseline, on the default worker" in output
    assert "becomes the current model when it succeeds" in output
    assert "admin" in output, "the account to log in with is still printed first"

    again = bootstrap(verbosity=0)

    assert again == "", "a second start makes nothing twice"
    assert (DatasetSnapshot.objects.count(), TrainingRun.objects.count()) == (1, 1)


@pytest.mark.django_db
def test_too_few_labelled_reviews_for_a_snapshot_are_said_and_the_start_goes_on(settings, tmp_path: Path) -> None:
    source = tmp_path / "imdb.jsonl"
    source.write_text('{"text": "Great.", "label": 1}\n{"text": "Bad.", "label": 0}\n', encoding="utf-8")
    settings.IMDB_SOURCE = str(source)

    output = bootstrap(verbosity=0)

    assert "No default snapshot was made:" in output
    assert not DatasetSnapshot.objects.exists()
