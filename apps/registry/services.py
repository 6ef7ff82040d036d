"""Model versions: registering what a training run produced (promotion and rollback come later)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from apps.registry.models import ModelVersion
from apps.training.choices import ModelKind

if TYPE_CHECKING:
    from apps.training.models import TrainingRun


def model_version_register(*, run: TrainingRun, result: Any) -> ModelVersion:
    """Record the model version a succeeded training run produced.

    ``result`` is the run's ``workers.ml.TrainResult`` with ``artifact_dir`` already at its final place.
    The artifact path is stored relative to ARTIFACT_ROOT when it lies under it, so the artifact store
    can be mounted at another path on another machine.
    """
    metrics = result.metrics
    return ModelVersion.objects.create(
        training_run=run,
        kind=run.kind,
        base_model=run.base_model if run.kind == ModelKind.TRANSFORMER else "",
        snapshot_id=run.snapshot_id,
        artifact_path=_stored_path(Path(result.artifact_dir)),
        artifact_size=int(result.artifact_size or 0),
        manifest=_json_safe(result.manifest or {}),
        test_accuracy=metrics.get("accuracy"),
        test_f1=metrics.get("f1"),
    )


def model_version_artifact_dir(*, version: ModelVersion) -> Path:
    """The folder holding a version's artifacts on this machine."""
    return Path(settings.ARTIFACT_ROOT) / version.artifact_path


def _json_safe(value: Any) -> Any:
    """The manifest as plain JSON: PostgreSQL's jsonb refuses NaN (a loss the trainer never logged), so it becomes null."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _stored_path(artifact_dir: Path) -> str:
    root = Path(settings.ARTIFACT_ROOT).resolve()
    resolved = artifact_dir.resolve()
    if resolved.is_relative_to(root):
        return str(resolved.relative_to(root))
    return str(resolved)
