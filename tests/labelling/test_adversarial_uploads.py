"""Attacks on the labelling upload: JSON escapes that are half a character get a message, never a server error."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.reviews.models import Review
from tests.labelling.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("line", "what"),
    [(b'{"text": "fine \\ud800 film"}\n', "review text"), (b'{"id": "a\\udfff", "text": "fine film"}\n', "id")],
)
def test_a_lone_surrogate_in_an_uploaded_json_line_is_refused_with_its_line(admin: User, line: bytes, what: str) -> None:
    upload = SimpleUploadedFile("odd.jsonl", b'{"text": "A good film."}\n' + line)

    response = signed_in(admin).post("/labelling/upload/", {"file": upload}, follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "odd.jsonl, line 2:" in page and what in page and "Nothing was imported." in page
    assert not Review.objects.exists()
