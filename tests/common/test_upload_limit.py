"""An upload over IMPORT_MAX_UPLOAD_BYTES is refused from its Content-Length, on pages and in the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from apps.common.roles import ML_ADMIN, role_group
from apps.reviews.models import ImportJob, Review

pytestmark = pytest.mark.django_db

LINES = b"A film I would gladly watch again.\n" * 6_000  # about 210 KB


@pytest.fixture
def ml_admin(settings: Any, tmp_path: Any) -> User:
    settings.IMPORT_MAX_UPLOAD_BYTES = 100_000
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    settings.STATIC_ROOT = tmp_path
    user = User.objects.create_user("mia", password="a long enough password")
    user.groups.add(role_group(ML_ADMIN))
    return user


def test_a_page_upload_over_the_limit_is_refused_with_the_limit_and_nothing_imported(ml_admin: User) -> None:
    client = Client()
    client.force_login(ml_admin)

    response = client.post("/labelling/upload/", {"file": SimpleUploadedFile("reviews.txt", LINES)})

    assert response.status_code == 413
    page = response.content.decode()
    assert "The upload is 210 KB; the largest upload is 100 KB" in page
    assert "Nothing was imported" in page
    assert not ImportJob.objects.exists() and not Review.objects.exists()


def test_an_api_upload_over_the_limit_is_a_413_in_the_error_envelope(ml_admin: User) -> None:
    client = APIClient()
    client.force_authenticate(ml_admin)

    response = client.post("/api/imports/", {"file": SimpleUploadedFile("reviews.txt", LINES)}, format="multipart")

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and "the largest upload is 100 KB" in error["message"]
    assert not ImportJob.objects.exists()


def test_an_upload_within_the_limit_reaches_the_page(ml_admin: User) -> None:
    client = Client()
    client.force_login(ml_admin)

    response = client.post("/labelling/upload/", {"file": SimpleUploadedFile("reviews.txt", LINES[:35_000])})

    assert response.status_code in (200, 302)
    assert Review.objects.count() == 1  # the same line a thousand times is one review
