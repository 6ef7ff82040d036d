"""Reads of model versions and the promotion history for pages, the API and the admin."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import QuerySet

from apps.registry.models import EnsembleBuild, ModelVersion, Promotion
from apps.training.choices import ModelKind
from apps.training.jobs import scoring_queue


def model_version_list() -> QuerySet[ModelVersion]:
    """Versions newest first, each with its training run (and so its metrics) and snapshot in the same query."""
    return (
        ModelVersion.objects.select_related("training_run", "snapshot")
        # The run's log is long and never shown beside a version.
        .defer("training_run__log_tail")
        .prefetch_related("memberships")
        .order_by("-created_at", "-pk")
    )


def current_model_version() -> ModelVersion | None:
    """The version that serves predictions, or None before the first promotion."""
    return model_version_list().filter(is_current=True).first()


def promotion_history(limit: int = 50) -> list[Promotion]:
    """The latest promotions and rollbacks, newest first, with both versions and who made them."""
    return list(
        Promotion.objects.select_related("from_version", "to_version", "promoted_by").order_by("-created_at", "-pk")[
            :limit
        ]
    )


def rollback_target(current: ModelVersion | None = None) -> ModelVersion | None:
    """The version a rollback would make current: the one that was current before ``current`` was last promoted.

    Rolling back repeatedly walks back through the promotions: after a rollback from v3 to v2, the next
    one goes to whatever was current before v2 was promoted. None when there is no current version or
    it was the first one ever made current.
    """
    if current is None:
        current = current_model_version()
        if current is None:
            return None
    promotion = (
        Promotion.objects.filter(action=Promotion.Action.PROMOTE, to_version=current)
        .select_related("from_version")
        .order_by("-created_at", "-pk")
        .first()
    )
    return promotion.from_version if promotion is not None else None


def model_version_get(*, version_id: int) -> ModelVersion:
    """One version with its training run and snapshot; raises ``ModelVersion.DoesNotExist``."""
    return (
        ModelVersion.objects.select_related("training_run", "snapshot")
        .defer("training_run__log_tail")
        .prefetch_related("memberships__member")
        .get(pk=version_id)
    )


def latest_promotion_to(*, version: ModelVersion) -> Promotion | None:
    """The promotion or rollback that last made ``version`` current (who, when, why), if any."""
    return (
        Promotion.objects.filter(to_version=version)
        .select_related("promoted_by", "from_version")
        .order_by("-created_at", "-pk")
        .first()
    )


def model_version_card(*, version: ModelVersion) -> str | None:
    """The model card (markdown) from the version's artifact folder; None when the folder has none or is unreadable."""
    from apps.registry.services import model_version_artifact_file
    from workers.ml.artifacts import MODEL_CARD_NAME, ArtifactError

    try:
        return model_version_artifact_file(version=version, name=MODEL_CARD_NAME).decode("utf-8")
    except (OSError, UnicodeDecodeError, ArtifactError):
        return None


def ensemble_queue(members: Sequence[ModelVersion]) -> str:
    """``gpu`` when a member is a transformer (scoring it wants a GPU), else ``default``."""
    return scoring_queue([member.kind for member in members])


def model_version_queue(version: ModelVersion) -> str:
    """The queue whose workers should run this version's jobs (evaluations, batch predictions)."""
    if version.kind == ModelKind.ENSEMBLE:
        return ensemble_queue(list(version.members.all()))
    return scoring_queue([version.kind])


def ensemble_build_list() -> QuerySet[EnsembleBuild]:
    """Ensemble builds newest first, with their snapshot, result version and members."""
    return (
        EnsembleBuild.objects.select_related("snapshot", "model_version", "created_by")
        .prefetch_related("members")
        .defer("log_tail")
        .order_by("-created_at", "-pk")
    )
