"""Queues made in the Django admin get the same checks and their order, like those made on the labelling pages."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.labelling.models import LabellingQueue, QueueItem
from tests.labelling.conftest import MakeReviews

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    return client


def test_a_queue_added_in_the_admin_is_ordered(staff: Client, make_reviews: MakeReviews, alice: User) -> None:
    make_reviews(5)

    response = staff.post(
        "/admin/labelling/labellingqueue/add/",
        {"name": "From admin", "pool": "all", "strategy": "random", "overlap": 1, "annotators": [alice.pk],
         "is_active": "on"},  # fmt: skip
        follow=True,
    )

    queue = LabellingQueue.objects.get()
    assert QueueItem.objects.filter(queue=queue).count() == 5
    assert "From admin: 5 reviews in random order." in response.content.decode()


def test_the_admin_refuses_a_queue_the_pages_would_refuse(staff: Client, make_reviews: MakeReviews) -> None:
    form = {"name": "Bad", "pool": "snapshot_split", "strategy": "random", "overlap": 1}
    response = staff.post("/admin/labelling/labellingqueue/add/", form)

    assert "Choose the snapshot whose split to label." in response.content.decode()
    assert not LabellingQueue.objects.exists()
