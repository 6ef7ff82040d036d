"""The role groups carry Django model permissions: a staff ML admin works in the admin without being a superuser."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from apps.registry.models import ModelVersion
from tests.api.conftest import World

pytestmark = pytest.mark.django_db

migration = importlib.import_module("apps.common.migrations.0003_role_permissions")


@pytest.fixture
def granted(world: World) -> None:
    # What the data migration does; tests that flush the database take its rows with them.
    migration.grant_permissions(django_apps, None)


def staff(world: World, role: str) -> Client:
    user = world.users[role]
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_a_staff_ml_admin_opens_the_admin_pages_of_runs_versions_and_imports(world: World, granted: None) -> None:
    client = staff(world, "ml_admin")
    assert not world.users["ml_admin"].is_superuser

    pages = [
        reverse("admin:training_trainingrun_changelist"),
        reverse("admin:training_trainingrun_add"),
        reverse("admin:training_trainingrun_change", args=[world.run.pk]),
        reverse("admin:training_evaluationrun_changelist"),
        reverse("admin:registry_modelversion_changelist"),
        reverse("admin:registry_modelversion_change", args=[world.version.pk]),
        reverse("admin:reviews_importjob_changelist"),
        reverse("admin:reviews_datasetsnapshot_changelist"),
        reverse("admin:predictions_batchpredictionjob_changelist"),
        reverse("admin:webhooks_webhooksubscription_changelist"),
        reverse("admin:webhooks_webhookdelivery_changelist"),
    ]

    assert {page: client.get(page).status_code for page in pages} == dict.fromkeys(pages, 200)


def test_a_staff_ml_admin_promotes_from_the_admin(world: World, granted: None) -> None:
    client = staff(world, "ml_admin")

    client.post(
        reverse("admin:registry_modelversion_changelist"),
        {
            "action": "promote_to_current",
            "_selected_action": [world.other_version.pk],
            "confirm": "yes",
            "reason": "better on the same snapshot",
        },
        follow=True,
    )

    assert ModelVersion.objects.get(is_current=True) == world.other_version


def test_a_staff_analyst_may_look_but_not_start_or_change_anything(world: World, granted: None) -> None:
    client = staff(world, "analyst")

    assert client.get(reverse("admin:training_trainingrun_changelist")).status_code == 200
    assert client.get(reverse("admin:registry_modelversion_changelist")).status_code == 200
    assert client.get(reverse("admin:training_trainingrun_add")).status_code == 403
    assert client.get(reverse("admin:webhooks_webhooksubscription_changelist")).status_code == 403


def test_the_migration_grants_once_however_often_it_runs(world: World) -> None:
    migration.grant_permissions(django_apps, None)
    migration.grant_permissions(django_apps, None)

    ml_admin = set(Group.objects.get(name="ml_admin").permissions.values_list("codename", flat=True))
    analyst = set(Group.objects.get(name="analyst").permissions.values_list("codename", flat=True))
    assert {"add_trainingrun", "change_modelversion", "view_importjob", "delete_webhooksubscription"} <= ml_admin
    assert "view_trainingrun" in analyst and not any(code.startswith(("add_", "change_")) for code in analyst)
    assert not Group.objects.get(name="integration").permissions.exists()


def test_the_integration_role_has_no_admin_permission(world: World, granted: None) -> None:
    client = staff(world, "integration")

    assert client.get(reverse("admin:training_trainingrun_changelist")).status_code == 403
