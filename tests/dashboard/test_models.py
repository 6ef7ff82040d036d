"""Model versions: the list, the current one, promotion history, the model card, promote and roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client
from django.utils import timezone

from apps.registry.models import ModelVersion, Promotion
from apps.registry.services import model_version_promote
from tests.registry.factories import SnapshotFactory, make_version


def test_the_list_shows_versions_the_current_one_and_the_promotion_history(
    analyst_client: Client, tfidf_artifact: Path, ml_admin: Any
) -> None:
    snapshot = SnapshotFactory(name="main")
    old = make_version(tfidf_artifact, accuracy=0.88, snapshot=snapshot)
    new = make_version(tfidf_artifact, accuracy=0.91, snapshot=snapshot)
    model_version_promote(version=old, by=ml_admin, reason="first one")
    model_version_promote(version=new, by=ml_admin, reason="higher accuracy")

    page = analyst_client.get("/models/").content.decode()

    assert f'href="/models/{old.pk}/">{old}</a>' in page and f'href="/models/{new.pk}/">{new}</a>' in page
    assert "higher accuracy" in page and "first one" in page
    assert f"Promote: <a href=\"/models/{old.pk}/\">{old}</a> → <a href=\"/models/{new.pk}/\">{new}</a>" in page
    assert "Roll back to" not in page, "analysts see no rollback button"
    promoted = Promotion.objects.filter(to_version=new).get().created_at
    assert f">{timezone.localtime(promoted):%Y-%m-%d %H:%M}</time>" in page, "the history says when, not only how long ago"


def test_a_version_page_renders_its_model_card_with_html_escaped(analyst_client: Client, tfidf_artifact: Path) -> None:
    version = make_version(tfidf_artifact, accuracy=0.9)

    page = analyst_client.get(f"/models/{version.pk}/").content.decode()

    assert "<h1>Sentiment model: TF-IDF + logistic regression</h1>" in page
    assert "<h2>Intended use</h2>" in page and "<table>" in page


def test_a_version_whose_card_cannot_be_read_says_so(analyst_client: Client) -> None:
    version = ModelVersion.objects.create(kind="tfidf", artifact_path="gone", test_accuracy=0.8)

    page = analyst_client.get(f"/models/{version.pk}/").content.decode()

    assert "cannot be read on this server" in page


def test_an_ml_admin_promotes_a_version_and_it_becomes_current(ml_admin_client: Client, tfidf_artifact: Path) -> None:
    version = make_version(tfidf_artifact, accuracy=0.9)

    page = ml_admin_client.post(f"/models/{version.pk}/promote/", {"reason": "ship it"}, follow=True).content.decode()

    version.refresh_from_db()
    assert version.is_current
    assert f"{version} is now the current model" in page
    promotion = Promotion.objects.get()
    assert promotion.reason == "ship it" and promotion.promoted_by.username == "mia"


def test_a_refused_promotion_explains_why_and_changes_nothing(ml_admin_client: Client, tfidf_artifact: Path) -> None:
    snapshot = SnapshotFactory(name="main")
    better = make_version(tfidf_artifact, accuracy=0.95, snapshot=snapshot)
    worse = make_version(tfidf_artifact, accuracy=0.80, snapshot=snapshot)
    model_version_promote(version=better, by=None)

    page = ml_admin_client.post(f"/models/{worse.pk}/promote/", {"reason": ""}, follow=True).content.decode()

    assert "below the current version" in page
    better.refresh_from_db()
    assert better.is_current


def test_an_ml_admin_rolls_back_to_the_previous_version(ml_admin_client: Client, tfidf_artifact: Path) -> None:
    first = make_version(tfidf_artifact, accuracy=0.9)
    second = make_version(tfidf_artifact, accuracy=0.9)
    model_version_promote(version=first, by=None)
    model_version_promote(version=second, by=None)

    listing = ml_admin_client.get("/models/").content.decode()
    page = ml_admin_client.post("/models/rollback/", {"reason": "second one misbehaves"}, follow=True).content.decode()

    assert f"Roll back to {first}" in listing
    first.refresh_from_db()
    assert first.is_current
    assert f"Rolled back from {second} to {first}." in page
    assert Promotion.objects.filter(action="rollback", reason="second one misbehaves").exists()
