"""Into training: snapshots take resolved human labels, alone or with the gold labels."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from apps.labelling.resolutions import resolution_settle
from apps.labelling.services import annotation_create, assignment_next, assignment_skip
from apps.reviews.models import DatasetSnapshot, SnapshotItem
from apps.reviews.snapshots import snapshot_create
from tests.labelling.conftest import MakeQueue, MakeReviews, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, admin: User) -> dict:
    """Ten unlabelled reviews labelled by alice; ten gold ones, two confirmed by alice and one corrected by an admin."""
    unlabelled = make_reviews(10)
    gold = make_reviews(gold=[1, 0] * 5)
    queue = make_queue("all", annotators=[alice])
    labels = {review.pk: index % 2 for index, review in enumerate(unlabelled)}
    labels |= {gold[0].pk: gold[0].gold_label, gold[1].pk: gold[1].gold_label}
    while (assignment := assignment_next(queue=queue, user=alice)) is not None:
        if assignment.review_id in labels:
            annotation_create(queue=queue, user=alice, review_id=assignment.review_id, label=labels[assignment.review_id])
        else:
            assignment_skip(queue=queue, user=alice, review_id=assignment.review_id)
    resolution_settle(review=gold[2], label=1 - gold[2].gold_label, reason="The dataset had it wrong.", by=admin)
    return {"unlabelled": unlabelled, "gold": gold, "labels": labels}


def frozen(snapshot: DatasetSnapshot) -> dict[int, int]:
    return dict(SnapshotItem.objects.filter(snapshot=snapshot).values_list("review_id", "label"))


def test_human_labels_alone_leave_out_gold_confirmations(labelled: dict) -> None:
    snapshot = snapshot_create(label_source="human")

    gold = labelled["gold"]
    expected = {review.pk: index % 2 for index, review in enumerate(labelled["unlabelled"])}
    expected[gold[2].pk] = 1 - gold[2].gold_label
    assert frozen(snapshot) == expected


def test_with_gold_labels_a_settled_correction_overrides_the_gold_label(labelled: dict) -> None:
    snapshot = snapshot_create(label_source="gold_and_human")

    gold = labelled["gold"]
    expected = {review.pk: index % 2 for index, review in enumerate(labelled["unlabelled"])}
    expected |= {review.pk: review.gold_label for review in gold}
    expected[gold[2].pk] = 1 - gold[2].gold_label
    assert frozen(snapshot) == expected


def test_the_create_snapshot_command_takes_human_labels(labelled: dict) -> None:
    out = StringIO()

    fractions = ["--train", "0.6", "--validation", "0.2", "--test", "0.2"]
    call_command("create_snapshot", "--labels", "human", *fractions, stdout=out)

    snapshot = DatasetSnapshot.objects.get()
    assert (snapshot.label_source, snapshot.size) == ("human", 11)
    assert f"Created snapshot {snapshot.pk}" in out.getvalue()


def test_the_snapshot_page(labelled: dict, admin: User) -> None:
    response = signed_in(admin).post("/labelling/snapshot/", {"label_source": "gold_and_human", "seed": 7}, follow=True)

    snapshot = DatasetSnapshot.objects.get()
    assert (snapshot.label_source, snapshot.seed, snapshot.size, snapshot.created_by) == ("gold_and_human", 7, 20, admin)
    assert f"Snapshot {snapshot.pk}" in response.content.decode()
