"""The groups behind the three roles (apps.common.roles): analyst, ml_admin, integration."""

from __future__ import annotations

from typing import Any

from django.db import migrations

ROLES = ("analyst", "ml_admin", "integration")


def create_groups(apps: Any, schema_editor: Any) -> None:
    group = apps.get_model("auth", "Group")
    for name in ROLES:
        group.objects.get_or_create(name=name)


def remove_groups(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("common", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
