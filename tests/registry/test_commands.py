"""``manage.py promote`` and ``manage.py rollback``."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.registry.models import ModelVersion, Promotion
from apps.reviews.models import DatasetSnapshot

pytestmark = pytest.mark.django_db

MakeVersion = Callable[..., ModelVersion]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_promote_makes_the_version_current_with_the_reason_given(version_of: MakeVersion) -> None:
    first, second = version_of(), version_of()
    run("promote", str(first.pk))

    output = run("promote", str(second.pk), "--reason", "retrained on more labels")

    assert output == f"Model version {second.pk} is now current (was model version {first.pk}).\n"
    assert ModelVersion.objects.get(is_current=True) == second
    promotion = Promotion.objects.latest("created_at")
    assert (promotion.reason, promotion.promoted_by, promotion.forced) == ("retrained on more labels", None, False)


def test_a_refused_promotion_ends_the_command_with_the_reason(
    version_of: MakeVersion, snapshot: DatasetSnapshot
) -> None:
    run("promote", str(version_of(accuracy=0.9, snapshot=snapshot).pk))
    worse = version_of(accuracy=0.6, snapshot=snapshot)

    with pytest.raises(CommandError, match="below the current version .* force the promotion and give a reason"):
        run("promote", str(worse.pk))
    with pytest.raises(CommandError, match="A forced promotion needs a reason"):
        run("promote", str(worse.pk), "--force")
    output = run("promote", str(worse.pk), "--force", "--reason", "needed for the demo")

    assert output.endswith("Forced.\n")
    assert ModelVersion.objects.get(is_current=True) == worse


def test_promote_names_an_unknown_version(db: None) -> None:
    with pytest.raises(CommandError, match="There is no model version 999."):
        run("promote", "999")


def test_rollback_restores_the_previous_version_and_refuses_when_there_is_none(version_of: MakeVersion) -> None:
    first, second = version_of(), version_of()
    run("promote", str(first.pk))
    run("promote", str(second.pk))

    output = run("rollback", "--reason", "bad in production")

    assert output == f"Rolled back: model version {first.pk} is current again (was model version {second.pk}).\n"
    assert Promotion.objects.latest("created_at").reason == "bad in production"
    with pytest.raises(CommandError, match="first version that was made current"):
        run("rollback")
