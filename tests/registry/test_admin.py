"""The registry admin: promote with a confirmation page, roll back from the list, read-only history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from apps.registry.models import ModelVersion, Promotion
from apps.registry.services import model_version_promote
from apps.reviews.models import DatasetSnapshot
from tests.registry.factories import UserFactory, tamper

pytestmark = pytest.mark.django_db

MakeVersion = Callable[..., ModelVersion]
CHANGELIST = reverse("admin:registry_modelversion_changelist")
ROLLBACK = reverse("admin:registry_modelversion_rollback")


def promote_action(client: Any, version: ModelVersion, **confirm: Any) -> Any:
    data = {"action": "promote_to_current", ACTION_CHECKBOX_NAME: [version.pk]}
    if confirm:
        data.update(confirm="yes", **confirm)
    return client.post(CHANGELIST, data, follow=True)


def test_the_version_list_shows_the_current_flag_metrics_snapshot_size_and_a_rollback_button(
    admin_client: Any, version_of: MakeVersion, snapshot: DatasetSnapshot
) -> None:
    version = version_of(accuracy=0.91234, snapshot=snapshot, base_model="tiny-bert")
    model_version_promote(version=version, by=None)

    page = admin_client.get(CHANGELIST).content.decode()

    assert 'alt="True"' in page
    assert "0.9123" in page and "tiny-bert" in page and str(snapshot) in page
    assert "KB" in page
    assert f'href="{ROLLBACK}"' in page and "Roll back to the previous version" in page


def test_promote_asks_for_a_reason_and_force_on_a_confirmation_page_before_promoting(
    admin_client: Any, version_of: MakeVersion
) -> None:
    version = version_of()

    page = promote_action(admin_client, version)

    assert page.status_code == 200
    assert f"Promote model version {version.pk} to current" in page.content.decode()
    assert 'name="reason"' in page.content.decode() and 'name="force"' in page.content.decode()
    assert not ModelVersion.objects.get(pk=version.pk).is_current


def test_confirming_the_promotion_makes_the_version_current_and_records_the_admin_and_reason(
    admin_client: Any, admin_user: Any, version_of: MakeVersion
) -> None:
    version = version_of()

    page = promote_action(admin_client, version, reason="best so far")

    assert f"Model version {version.pk} is now current." in page.content.decode()
    assert ModelVersion.objects.get(pk=version.pk).is_current
    promotion = Promotion.objects.get()
    assert (promotion.promoted_by, promotion.reason) == (admin_user, "best so far")


def test_a_refused_promotion_shows_why_and_changes_nothing_until_forced_with_a_reason(
    admin_client: Any, version_of: MakeVersion, snapshot: DatasetSnapshot
) -> None:
    current = version_of(accuracy=0.9, snapshot=snapshot)
    model_version_promote(version=current, by=None)
    worse = version_of(accuracy=0.7, snapshot=snapshot)

    refused = promote_action(admin_client, worse, reason="")

    assert "The promotion was refused: Model version" in refused.content.decode()
    assert "below the current version" in refused.content.decode()
    assert ModelVersion.objects.get(is_current=True) == current

    forced = promote_action(admin_client, worse, reason="handles negation better", force="on")

    assert "The promotion was forced." in forced.content.decode()
    assert ModelVersion.objects.get(is_current=True) == worse
    assert Promotion.objects.latest("created_at").forced


def test_a_tampered_version_is_refused_on_the_confirmation_page(admin_client: Any, version_of: MakeVersion) -> None:
    version = version_of()
    tamper(version)

    page = promote_action(admin_client, version, reason="x")

    assert "failed their integrity check" in page.content.decode()
    assert not ModelVersion.objects.filter(is_current=True).exists()


def test_promote_needs_exactly_one_selected_version(admin_client: Any, version_of: MakeVersion) -> None:
    first, second = version_of(), version_of()

    page = admin_client.post(
        CHANGELIST, {"action": "promote_to_current", ACTION_CHECKBOX_NAME: [first.pk, second.pk]}, follow=True
    )

    assert "Select exactly one model version to promote." in page.content.decode()


def test_rollback_shows_what_becomes_current_and_rolls_back_with_the_reason(
    admin_client: Any, admin_user: Any, version_of: MakeVersion
) -> None:
    first, second = version_of(), version_of()
    model_version_promote(version=first, by=None)
    model_version_promote(version=second, by=None)

    confirmation = admin_client.get(ROLLBACK).content.decode()
    done = admin_client.post(ROLLBACK, {"reason": "latency regression"}, follow=True)

    assert f"Model version {first.pk} (tfidf, test accuracy 0.9000)" in confirmation
    assert f"in place of model version {second.pk}" in confirmation
    assert f"Rolled back: model version {first.pk} is current again (was model version {second.pk})." in (
        done.content.decode()
    )
    rollback = Promotion.objects.latest("created_at")
    assert (rollback.action, rollback.promoted_by, rollback.reason) == ("rollback", admin_user, "latency regression")


def test_rollback_with_nothing_to_roll_back_to_says_so(admin_client: Any, version_of: MakeVersion) -> None:
    assert "No model version is current" in admin_client.get(ROLLBACK).content.decode()
    model_version_promote(version=version_of(), by=None)

    assert "there is no earlier version to roll back to" in admin_client.get(ROLLBACK).content.decode()


def test_the_rollback_action_ignores_the_selection_and_opens_the_rollback_page(
    admin_client: Any, version_of: MakeVersion
) -> None:
    version = version_of()

    response = admin_client.post(CHANGELIST, {"action": "rollback_to_previous", ACTION_CHECKBOX_NAME: [version.pk]})

    assert response.status_code == 302 and response["Location"] == ROLLBACK


def test_staff_who_are_not_ml_admins_cannot_promote_or_roll_back(client: Any, version_of: MakeVersion) -> None:
    from django.contrib.auth.models import Permission

    staff = UserFactory(username="staff", is_staff=True, roles=["analyst"])
    staff.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client.force_login(staff)
    version = version_of()

    listing = client.get(CHANGELIST)
    attempt = client.post(CHANGELIST, {"action": "promote_to_current", ACTION_CHECKBOX_NAME: [version.pk], "confirm": "yes"})

    assert listing.status_code == 200 and "promote_to_current" not in listing.content.decode()
    assert attempt.status_code in (200, 302) and not ModelVersion.objects.filter(is_current=True).exists()
    assert client.get(ROLLBACK).status_code == 403


def test_the_promotion_history_is_read_only(admin_client: Any, version_of: MakeVersion) -> None:
    promotion = model_version_promote(version=version_of(), by=None, reason="first")

    assert admin_client.get(reverse("admin:registry_promotion_add")).status_code == 403
    detail = admin_client.get(reverse("admin:registry_promotion_change", args=[promotion.pk]))
    assert detail.status_code == 200 and 'name="reason"' not in detail.content.decode()
    assert "first" in detail.content.decode()
