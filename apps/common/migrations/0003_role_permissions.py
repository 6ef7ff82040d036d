"""Django model permissions for the role groups, so a staff account needs no superuser flag to work in the admin.

An ML admin (with ``is_staff``) can start, cancel and retry runs and evaluations, promote versions, follow
imports and snapshots, run batch predictions, delete reviews, manage webhooks and revoke API tokens in the
admin; an analyst (with ``is_staff``) can look at all of those. Integrations are machine accounts and get
no admin permission. Running it again adds nothing twice.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

VIEW = ("view",)
RUN = ("view", "add", "change")
ALL = ("view", "add", "change", "delete")

ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "ml_admin": {
        "training.trainingrun": RUN,
        "training.evaluationrun": RUN,
        "training.epochmetric": VIEW,
        "training.runprediction": VIEW,
        "registry.modelversion": ("view", "change"),
        "registry.promotion": VIEW,
        "reviews.importjob": RUN,
        "reviews.datasetsnapshot": ("view", "add"),
        "reviews.review": ("view", "delete"),
        "predictions.batchpredictionjob": RUN,
        "predictions.prediction": VIEW,
        "webhooks.webhooksubscription": ALL,
        "webhooks.webhookdelivery": VIEW,
        "common.apitoken": ("view", "change"),
    },
    "analyst": {
        "training.trainingrun": VIEW,
        "training.evaluationrun": VIEW,
        "training.epochmetric": VIEW,
        "registry.modelversion": VIEW,
        "registry.promotion": VIEW,
        "reviews.importjob": VIEW,
        "reviews.datasetsnapshot": VIEW,
        "reviews.review": VIEW,
        "predictions.batchpredictionjob": VIEW,
        "predictions.prediction": VIEW,
    },
}


def grant_permissions(apps: Any, schema_editor: Any) -> None:
    # On a new database the permissions are made after all migrations; make them now for the ones named here.
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for label, actions in grants.items():
            app_label, model = label.split(".")
            codenames = [f"{action}_{model}" for action in actions]
            group.permissions.add(
                *permission_model.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )


def revoke_permissions(apps: Any, schema_editor: Any) -> None:
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, grants in ROLE_PERMISSIONS.items():
        group = group_model.objects.filter(name=role).first()
        if group is None:
            continue
        for label, actions in grants.items():
            app_label, model = label.split(".")
            codenames = [f"{action}_{model}" for action in actions]
            group.permissions.remove(
                *permission_model.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("common", "0002_role_groups"),
        ("training", "0001_initial"),
        ("registry", "0002_initial"),
        ("reviews", "0001_initial"),
        ("predictions", "0002_initial"),
        ("webhooks", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant_permissions, revoke_permissions)]
