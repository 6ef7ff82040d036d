"""Attacks on the label-noise page: odd scope ids, one class only, too few reviews: a message, never a server error."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from apps.common.choices import JobStatus
from apps.labelling.models import NoiseDetection
from apps.labelling.noise import noise_detection_start
from apps.labelling.runners import NoiseRunner
from apps.reviews.snapshots import snapshot_create
from tests.labelling.conftest import MakeReviews, signed_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["²", "٣"])
def test_a_scope_id_of_non_ascii_digits_starts_nothing_and_the_page_says_what_to_choose(
    make_reviews: MakeReviews, admin: User, value: str
) -> None:
    make_reviews(gold=[1, 0] * 15)
    snapshot_create(seed=3)

    answer = signed_in(admin).post("/labelling/noise/", {"snapshot": value}, follow=True)

    assert answer.status_code == 200
    assert "Choose what to check" in answer.content.decode()
    assert not NoiseDetection.objects.exists()


def test_a_detection_over_a_snapshot_of_one_class_fails_and_says_why(make_reviews: MakeReviews, admin: User) -> None:
    make_reviews(gold=[1] * 30)
    detection = noise_detection_start(snapshot=snapshot_create(seed=3), enqueue=False)

    NoiseRunner.handle(detection.pk)

    detection.refresh_from_db()
    assert detection.status == JobStatus.FAILED
    assert detection.error.startswith("Finding label noise needs at least 10 reviews of each label")
    assert "0 negative and 30 positive" in detection.error and not detection.scores.exists()
