"""Admin permissions of the role groups for retraining: ML admins set policies and cancel cycles, analysts look."""

from __future__ import annotations

from typing import Any

from django.db import migrations

ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "ml_admin": {
        "trainingpolicy": ("view", "add", "change", "delete"),
        "retrainingcycle": ("view", "change"),
    },
    "analyst": {"trainingpolicy": ("view",), "retrainingcycle": ("view",)},
}


def _permissions(apps: Any, model: str, actions: tuple[str, ...]) -> Any:
    permission_model = apps.get_model("auth", "Permission")
    codenames = [f"{action}_{model}" for action in actions]
    return permission_model.objects.filter(content_type__app_label="automation", codename__in=codenames)


def grant_permissions(apps: Any, schema_editor: Any) -> None:
    # On a new database the permissions are made after all migrations; make this app's now.
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("automation")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for model, actions in grants.items():
            group.permissions.add(*_permissions(apps, model, actions))


def revoke_permissions(apps: Any, schema_editor: Any) -> None:
    group_model = apps.get_model("auth", "Group")
    for role, grants in ROLE_PERMISSIONS.items():
        group = group_model.objects.filter(name=role).first()
        if group is not None:
            for model, actions in grants.items():
                group.permissions.remove(*_permissions(apps, model, actions))


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0001_initial"),
        ("common", "0003_role_permissions"),
    ]

    operations = [migrations.RunPython(grant_permissions, revoke_permissions)]
