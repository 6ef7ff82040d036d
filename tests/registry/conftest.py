"""Fixtures for registry tests: a trained TF-IDF artifact, versions made from it, users with roles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apps.common.roles import ANALYST, ML_ADMIN
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot
from tests.registry.factories import SnapshotFactory, UserFactory, make_version, train_tfidf_artifact


@pytest.fixture(scope="session")
def tfidf_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf_artifact(tmp_path_factory.mktemp("tfidf"))


@pytest.fixture
def version_of(tfidf_artifact: Path, db: None) -> Callable[..., ModelVersion]:
    """Make a model version with a real (TF-IDF) artifact folder: ``version_of(accuracy=0.9, snapshot=...)``."""

    def make(**fields: Any) -> ModelVersion:
        return make_version(tfidf_artifact, **fields)

    return make


@pytest.fixture
def snapshot(db: None) -> DatasetSnapshot:
    return SnapshotFactory(name="main")


@pytest.fixture
def ml_admin(db: None) -> Any:
    return UserFactory(username="mladmin", roles=[ML_ADMIN])


@pytest.fixture
def analyst(db: None) -> Any:
    return UserFactory(username="analyst", roles=[ANALYST])


@pytest.fixture(autouse=True)
def _static_files_as_in_development(settings: Any, tmp_path: Path) -> None:
    """Pages render without a collectstatic manifest (there is none in tests)."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
