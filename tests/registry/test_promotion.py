"""Promotion and rollback: the rules, the record they leave, and the one-current guarantee."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from apps.registry.models import ModelVersion, Promotion
from apps.registry.selectors import current_model_version, model_version_list, promotion_history
from apps.registry.services import PromotionError, model_version_promote, model_version_rollback
from apps.reviews.models import DatasetSnapshot
from tests.registry.factories import SnapshotFactory, tamper

pytestmark = pytest.mark.django_db

MakeVersion = Callable[..., ModelVersion]


def current_ids() -> list[int]:
    return list(ModelVersion.objects.filter(is_current=True).values_list("pk", flat=True))


def test_promoting_a_version_makes_it_the_only_current_one_and_records_who_when_and_why(
    version_of: MakeVersion, snapshot: DatasetSnapshot, ml_admin: Any
) -> None:
    first = version_of(accuracy=0.80, snapshot=snapshot)
    second = version_of(accuracy=0.85, snapshot=snapshot)
    model_version_promote(version=first, by=ml_admin, reason="first model")

    promotion = model_version_promote(version=second, by=ml_admin, reason="better on test")

    assert current_ids() == [second.pk]
    assert current_model_version() == second
    assert (promotion.action, promotion.from_version, promotion.to_version) == ("promote", first, second)
    assert (promotion.promoted_by, promotion.reason, promotion.forced) == (ml_admin, "better on test", False)
    assert promotion.created_at is not None
    assert [p.to_version_id for p in promotion_history()] == [second.pk, first.pk]


def test_the_first_promotion_has_no_previous_version(version_of: MakeVersion, ml_admin: Any) -> None:
    version = version_of()

    promotion = model_version_promote(version=version, by=ml_admin)

    assert promotion.from_version is None
    assert version.is_current
    assert current_ids() == [version.pk]


def test_promotion_is_refused_when_an_artifact_file_changed_after_it_was_written(
    version_of: MakeVersion, ml_admin: Any
) -> None:
    current = version_of()
    model_version_promote(version=current, by=ml_admin)
    broken = version_of(accuracy=0.99)
    tamper(broken)

    with pytest.raises(PromotionError, match=f"Model version {broken.pk} cannot be promoted: .*Checksum mismatch for weights.safetensors"):
        model_version_promote(version=broken, by=ml_admin, reason="even forced", force=True)

    assert current_ids() == [current.pk]
    assert Promotion.objects.count() == 1


def test_promotion_is_refused_when_the_artifact_folder_is_gone(version_of: MakeVersion, ml_admin: Any, settings: Any) -> None:
    import shutil

    version = version_of()
    shutil.rmtree(settings.ARTIFACT_ROOT / version.artifact_path)

    with pytest.raises(PromotionError, match="is not a folder"):
        model_version_promote(version=version, by=ml_admin)


def test_promotion_is_refused_for_the_version_that_is_already_current(version_of: MakeVersion, ml_admin: Any) -> None:
    version = version_of()
    model_version_promote(version=version, by=ml_admin)

    with pytest.raises(PromotionError, match=f"Model version {version.pk} is already current"):
        model_version_promote(version=version, by=ml_admin)

    assert Promotion.objects.count() == 1


def test_promotion_below_the_current_accuracy_on_the_same_snapshot_is_refused(
    version_of: MakeVersion, snapshot: DatasetSnapshot, ml_admin: Any
) -> None:
    current = version_of(accuracy=0.90, snapshot=snapshot)
    model_version_promote(version=current, by=ml_admin)
    worse = version_of(accuracy=0.85, snapshot=snapshot)

    with pytest.raises(PromotionError) as refused:
        model_version_promote(version=worse, by=ml_admin, reason="I like it")

    assert str(refused.value) == (
        f"Model version {worse.pk} has test accuracy 0.8500, below the current version {current.pk}'s 0.9000 on the "
        f"same snapshot {snapshot.pk} (main). Promote a better version, or force the promotion and give a reason."
    )
    assert current_ids() == [current.pk]


def test_an_equal_accuracy_on_the_same_snapshot_is_not_below_and_may_be_promoted(
    version_of: MakeVersion, snapshot: DatasetSnapshot, ml_admin: Any
) -> None:
    model_version_promote(version=version_of(accuracy=0.9, snapshot=snapshot), by=ml_admin)
    same = version_of(accuracy=0.9, snapshot=snapshot)

    model_version_promote(version=same, by=ml_admin)

    assert current_ids() == [same.pk]


def test_a_forced_promotion_with_a_reason_goes_through_and_is_recorded_as_forced(
    version_of: MakeVersion, snapshot: DatasetSnapshot, ml_admin: Any
) -> None:
    current = version_of(accuracy=0.90, snapshot=snapshot)
    model_version_promote(version=current, by=ml_admin)
    worse = version_of(accuracy=0.85, snapshot=snapshot)

    promotion = model_version_promote(
        version=worse, by=ml_admin, reason="  the better one mislabels sarcasm  ", force=True
    )

    assert current_ids() == [worse.pk]
    assert promotion.forced is True
    assert promotion.reason == "the better one mislabels sarcasm"


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_forced_promotion_without_a_reason_is_refused(
    version_of: MakeVersion, snapshot: DatasetSnapshot, ml_admin: Any, reason: str
) -> None:
    current = version_of(accuracy=0.90, snapshot=snapshot)
    model_version_promote(version=current, by=ml_admin)
    worse = version_of(accuracy=0.85, snapshot=snapshot)

    with pytest.raises(PromotionError, match="A forced promotion needs a reason"):
        model_version_promote(version=worse, by=ml_admin, reason=reason, force=True)

    assert current_ids() == [current.pk]


def test_a_version_without_test_accuracy_is_refused_against_a_measured_current_one_unless_forced(
    version_of: MakeVersion, snapshot: DatasetSnapshot, ml_admin: Any
) -> None:
    model_version_promote(version=version_of(accuracy=0.9, snapshot=snapshot), by=ml_admin)
    unmeasured = version_of(accuracy=None, snapshot=snapshot)

    with pytest.raises(PromotionError, match="has no test accuracy, below the current version"):
        model_version_promote(version=unmeasured, by=ml_admin)
    promotion = model_version_promote(version=unmeasured, by=ml_admin, reason="measured by hand", force=True)

    assert promotion.forced


def test_versions_tested_on_different_snapshots_are_not_compared_and_the_reason_says_so(
    version_of: MakeVersion, snapshot: DatasetSnapshot, ml_admin: Any
) -> None:
    current = version_of(accuracy=0.95, snapshot=snapshot)
    model_version_promote(version=current, by=ml_admin)
    other = SnapshotFactory(name="relabelled")
    candidate = version_of(accuracy=0.80, snapshot=other)

    promotion = model_version_promote(version=candidate, by=ml_admin, reason="new labels")

    assert current_ids() == [candidate.pk]
    assert promotion.forced is False
    assert promotion.reason == (
        f"new labels\n(Test accuracies not compared: model version {candidate.pk} was tested on snapshot "
        f"{other.pk} (relabelled), the previous current version {current.pk} on {snapshot.pk} (main).)"
    )


def test_rollback_restores_the_version_that_was_current_before_the_latest_promotion(
    version_of: MakeVersion, ml_admin: Any
) -> None:
    first, second = version_of(), version_of()
    model_version_promote(version=first, by=ml_admin)
    model_version_promote(version=second, by=ml_admin)

    rollback = model_version_rollback(by=ml_admin, reason="second one misbehaves in production")

    assert current_ids() == [first.pk]
    assert (rollback.action, rollback.from_version, rollback.to_version) == ("rollback", second, first)
    assert (rollback.promoted_by, rollback.reason, rollback.forced) == (
        ml_admin,
        "second one misbehaves in production",
        False,
    )
    assert promotion_history(limit=1) == [rollback]


def test_repeated_rollbacks_walk_back_through_the_promotions_until_the_first(
    version_of: MakeVersion, ml_admin: Any
) -> None:
    v1, v2, v3 = version_of(), version_of(), version_of()
    for version in (v1, v2, v3):
        model_version_promote(version=version, by=ml_admin)

    model_version_rollback(by=ml_admin)
    assert current_ids() == [v2.pk]
    model_version_rollback(by=ml_admin)
    assert current_ids() == [v1.pk]
    with pytest.raises(PromotionError, match=f"Model version {v1.pk} is the first version that was made current"):
        model_version_rollback(by=ml_admin)
    assert current_ids() == [v1.pk]


def test_rollback_is_refused_when_no_version_is_current(db: None) -> None:
    with pytest.raises(PromotionError, match="No model version is current, so there is nothing to roll back"):
        model_version_rollback(by=None)

    assert not Promotion.objects.exists()


def test_rollback_is_refused_when_the_previous_versions_artifacts_fail_their_checksums(
    version_of: MakeVersion, ml_admin: Any
) -> None:
    first, second = version_of(), version_of()
    model_version_promote(version=first, by=ml_admin)
    model_version_promote(version=second, by=ml_admin)
    tamper(first, "vocabulary.json")

    with pytest.raises(PromotionError, match=f"Model version {first.pk} cannot be rolled back to: .*vocabulary.json"):
        model_version_rollback(by=ml_admin)

    assert current_ids() == [second.pk]


def test_the_database_refuses_a_second_current_version(version_of: MakeVersion, ml_admin: Any) -> None:
    model_version_promote(version=version_of(), by=ml_admin)
    other = version_of()

    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=other.pk).update(is_current=True)

    assert len(current_ids()) == 1


def test_the_version_list_fetches_runs_snapshots_and_ensemble_members_in_two_queries(
    version_of: MakeVersion, snapshot: DatasetSnapshot, django_assert_num_queries: Any
) -> None:
    for _ in range(3):
        version_of(snapshot=snapshot)

    # One for the versions with their runs and snapshots, one for every ensemble's members.
    with django_assert_num_queries(2):
        rows = [
            (version.snapshot.name, version.training_run, list(version.memberships.all()))
            for version in model_version_list()
        ]

    assert rows == [("main", None, [])] * 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_promotions_leave_exactly_one_current_version_and_a_consistent_history(
    version_of: MakeVersion, ml_admin: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    start = version_of(accuracy=0.8)
    model_version_promote(version=start, by=ml_admin)
    contenders = [version_of(accuracy=0.9) for _ in range(4)]
    barrier = threading.Barrier(len(contenders))
    outcomes: dict[int, str] = {}

    def promote(version: ModelVersion) -> None:
        try:
            barrier.wait()
            model_version_promote(version=version, by=ml_admin, reason=f"race {version.pk}")
            outcomes[version.pk] = "promoted"
        except Exception as error:  # recorded for the assertion below
            outcomes[version.pk] = repr(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=promote, args=(version,)) for version in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert outcomes == {version.pk: "promoted" for version in contenders}
    assert len(current_ids()) == 1
    chain = list(Promotion.objects.order_by("created_at", "pk"))
    # Serialised: each promotion started from the version the previous one made current.
    assert [p.from_version_id for p in chain] == [None, *[p.to_version_id for p in chain[:-1]]]
    assert chain[-1].to_version_id == current_ids()[0]
