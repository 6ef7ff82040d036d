"""Model versions: registering what a training run produced, promotion to "current", and rollback.

Exactly one version is current, and the database holds that (a partial unique constraint). A change
of the current version happens in one transaction that first takes a lock every promotion and
rollback takes, so two of them never interleave: the old version is unset before the new one is set,
and the change is recorded as a ``Promotion`` (from, to, who, when, why, forced) in the same commit.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction

from apps.common.storage import artifact_storage
from apps.registry.models import ModelVersion, Promotion
from apps.registry.selectors import current_model_version, rollback_target
from apps.training.choices import ModelKind
from workers.ml.artifacts import (
    ArtifactError,
    fetch_from_storage,
    publish_to_storage,
    read_stored_file,
    verify_artifacts,
)
from workers.ml.storage import StorageError

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from apps.training.models import TrainingRun

logger = logging.getLogger(__name__)

# Any constant: the key of the PostgreSQL advisory lock that serialises changes of the current version.
PROMOTION_LOCK_KEY = 7_453_001


class PromotionError(ValueError):
    """A promotion or rollback was refused; the message says why and what to do instead."""


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
    """The folder holding a version's artifacts on this machine.

    With object storage (ARTIFACT_STORAGE_URL) it is this machine's cached copy, fetched on first use with
    every file checked against the manifest. Raises ArtifactError when the stored model is incomplete
    (ArtifactNotReady: no manifest yet) or fails its checksums, StorageError when storage cannot be reached.
    """
    if Path(version.artifact_path).is_absolute():  # a folder outside ARTIFACT_ROOT, registered as it lay
        return Path(version.artifact_path)
    return fetch_from_storage(artifact_storage(), version.artifact_path, Path(settings.ARTIFACT_CACHE_DIR))


def model_version_artifact_file(*, version: ModelVersion, name: str) -> bytes:
    """One file of a version's artifacts (its model card), checked, without fetching the whole model."""
    if Path(version.artifact_path).is_absolute():
        return (Path(version.artifact_path) / name).read_bytes()
    return read_stored_file(artifact_storage(), version.artifact_path, name, Path(settings.ARTIFACT_CACHE_DIR))


def artifacts_publish(*, folder: Path, name: str) -> str:
    """Publish a finished artifact folder as ``name`` in the artifact storage; returns where it now lies.

    Locally that is one rename into ARTIFACT_ROOT; on object storage every file is uploaded and the
    manifest last, so no reader loads a model that is still arriving.
    """
    storage = artifact_storage()
    publish_to_storage(folder, storage, name)
    return storage.url_of(name)


def artifacts_discard(*, name: str) -> None:
    """Remove a published artifact folder (a run that failed after publishing); nothing there is fine."""
    artifact_storage().remove(name)


def model_version_promote(
    *, version: ModelVersion, by: User | None, reason: str = "", force: bool = False
) -> Promotion:
    """Make ``version`` the current one, atomically, and record who did it and why.

    Refused (``PromotionError``) when the version's artifact files fail their checksums, when it is
    already current, and when its test accuracy is below the current version's on the same snapshot,
    unless ``force`` is given with a reason (the promotion is then recorded as forced; ``force`` without a
    reason is always refused). Versions tested on different snapshots are not compared; the recorded
    reason notes that.
    """
    reason = reason.strip()
    if force and not reason:
        raise PromotionError(
            "A forced promotion needs a reason: say why this version should serve predictions despite the checks."
        )
    _require_intact_artifacts(version, action="promoted")
    with transaction.atomic():
        _serialise_changes_of_current()
        current = ModelVersion.objects.select_for_update().filter(is_current=True).first()
        # ``of``: PostgreSQL locks no row on the nullable side of the snapshot join.
        versions = ModelVersion.objects.select_for_update(of=("self",)).select_related("snapshot")
        target = versions.filter(pk=version.pk).first()
        if target is None:
            raise PromotionError(f"Model version {version.pk} no longer exists.")
        if target.is_current:
            raise PromotionError(f"Model version {target.pk} is already current; there is nothing to promote.")
        forced, note = _compare_with_current(target, current, force=force)
        promotion = _make_current(
            target,
            current,
            action=Promotion.Action.PROMOTE,
            by=by,
            reason="\n".join(part for part in (reason, note) if part),
            forced=forced,
        )
    version.is_current = True
    logger.info(
        "Model version %s is current (was %s): %s", target.pk, current.pk if current else None, promotion.reason
    )
    return promotion


def model_version_rollback(*, by: User | None, reason: str = "") -> Promotion:
    """Make current again the version that was current before the current one was promoted.

    Repeated rollbacks walk back through the promotions (v3 -> v2 -> v1). Refused (``PromotionError``)
    when no version is current, when the current one was the first ever promoted, or when the earlier
    version's artifact files fail their checksums.
    """
    reason = reason.strip()
    with transaction.atomic():
        _serialise_changes_of_current()
        current = ModelVersion.objects.select_for_update().filter(is_current=True).first()
        if current is None:
            raise PromotionError("No model version is current, so there is nothing to roll back.")
        target = rollback_target(current)
        if target is None:
            raise PromotionError(
                f"Model version {current.pk} is the first version that was made current: there is no earlier "
                "version to roll back to. Promote another version instead."
            )
        # Checked under the lock: which version is the target depends on the history the lock protects.
        _require_intact_artifacts(target, action="rolled back to")
        promotion = _make_current(
            target, current, action=Promotion.Action.ROLLBACK, by=by, reason=reason, forced=False
        )
    logger.info("Rolled back from model version %s to %s: %s", current.pk, target.pk, reason)
    return promotion


def model_version_auto_promote(*, version: ModelVersion) -> Promotion | None:
    """Promote a newly registered version when the AUTO_PROMOTE setting is on and it beats the current one.

    "Beats" means a strictly higher test accuracy than the current version's on the same snapshot, or
    no current version at all; a version tested on another snapshot is left for a person to compare.
    Returns the promotion, or None when nothing was promoted. Never raises a refusal: it is logged,
    because it must not undo the training run that called it.
    """
    if not settings.AUTO_PROMOTE:
        return None
    current = current_model_version()
    if current is None:
        reason = "auto-promoted: no version was current."
    elif current.pk == version.pk or current.snapshot_id != version.snapshot_id or version.test_accuracy is None:
        return None
    elif current.test_accuracy is None:
        reason = (
            f"auto-promoted: test accuracy {version.test_accuracy:.4f} on snapshot {version.snapshot_id}, "
            f"where the current version {current.pk} records none."
        )
    elif version.test_accuracy > current.test_accuracy:
        reason = (
            f"auto-promoted: test accuracy {version.test_accuracy:.4f} beats the current version {current.pk}'s "
            f"{current.test_accuracy:.4f} on snapshot {version.snapshot_id}."
        )
    else:
        return None
    try:
        return model_version_promote(version=version, by=None, reason=reason)
    except PromotionError as error:
        logger.warning("Model version %s was not auto-promoted: %s", version.pk, error)
        return None


def _compare_with_current(
    target: ModelVersion, current: ModelVersion | None, *, force: bool
) -> tuple[bool, str]:
    """(whether the promotion overrides the accuracy rule, a note for the reason); raises when it is refused."""
    if current is None:
        return False, ""
    if target.snapshot_id != current.snapshot_id:
        return False, (
            f"(Test accuracies not compared: model version {target.pk} was tested on snapshot "
            f"{_snapshot_name(target)}, the previous current version {current.pk} on {_snapshot_name(current)}.)"
        )
    if current.test_accuracy is None or (
        target.test_accuracy is not None and target.test_accuracy >= current.test_accuracy
    ):
        return False, ""
    measured = (
        "has no test accuracy" if target.test_accuracy is None else f"has test accuracy {target.test_accuracy:.4f}"
    )
    if not force:
        raise PromotionError(
            f"Model version {target.pk} {measured}, below the current version {current.pk}'s "
            f"{current.test_accuracy:.4f} on the same snapshot {_snapshot_name(target)}. Promote a better "
            "version, or force the promotion and give a reason."
        )
    return True, ""


def _make_current(
    target: ModelVersion,
    current: ModelVersion | None,
    *,
    action: str,
    by: User | None,
    reason: str,
    forced: bool,
) -> Promotion:
    # Unset first: the partial unique index is checked per statement, so two current rows never exist.
    if current is not None:
        ModelVersion.objects.filter(pk=current.pk).update(is_current=False)
    ModelVersion.objects.filter(pk=target.pk).update(is_current=True)
    return Promotion.objects.create(
        action=action, from_version=current, to_version=target, promoted_by=by, reason=reason, forced=forced
    )


def _serialise_changes_of_current() -> None:
    """Wait for any other promotion or rollback to commit before this one reads the current version.

    Locking the current row alone is not enough: a transaction that waited on it would find, once the
    other committed, that the row is no longer current and miss the new one. On SQLite the settings make
    every transaction take the database's write lock when it begins, which serialises them already.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PROMOTION_LOCK_KEY])


def _require_intact_artifacts(version: ModelVersion, *, action: str) -> None:
    try:
        problems = verify_artifacts(model_version_artifact_dir(version=version))
    except (ArtifactError, StorageError) as error:
        problems = [str(error)]
    if problems:
        raise PromotionError(
            f"Model version {version.pk} cannot be {action}: its artifact files failed their integrity check. "
            + " ".join(problems)
            + " Retrain it, or restore its folder from a backup."
        )


def _snapshot_name(version: ModelVersion) -> str:
    snapshot = version.snapshot
    return f"{snapshot.pk} ({snapshot.name})" if snapshot is not None else "(none recorded)"


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
