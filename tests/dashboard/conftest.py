"""Fixtures for the dashboard's page tests: an analyst and an ML admin, logged-in clients, static files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from apps.common.roles import ANALYST, ML_ADMIN
from tests.registry.factories import UserFactory


@pytest.fixture
def analyst(db: None) -> Any:
    return UserFactory(username="ana", roles=[ANALYST])


@pytest.fixture
def ml_admin(db: None) -> Any:
    return UserFactory(username="mia", roles=[ML_ADMIN])


@pytest.fixture
def analyst_client(analyst: Any) -> Client:
    client = Client()
    client.force_login(analyst)
    return client


@pytest.fixture
def ml_admin_client(ml_admin: Any) -> Client:
    client = Client()
    client.force_login(ml_admin)
    return client


@pytest.fixture(autouse=True)
def _static_files(static_files_as_in_development: None) -> None:
    """Static files served as in development (tests/conftest.py)."""


@pytest.fixture(scope="session")
def tfidf_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real TF-IDF artifact folder (with its model card), trained once per session in seconds."""
    from tests.registry.factories import train_tfidf_artifact

    return train_tfidf_artifact(tmp_path_factory.mktemp("dashboard-tfidf"))
