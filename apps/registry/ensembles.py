"""Ensemble versions: check and queue a build from versions of one snapshot, build it on a worker, register it.

A build is a kind of job (``apps.common.jobs.JobRunner``). On a worker it scores every member on the
snapshot's validation and test splits, fits the weights on validation and measures the ensemble on test
(``workers.ml.ensemble``), then publishes the artifact folder like a training run's and registers an
ordinary model version of kind ``ensemble`` with its members and weights. That version is promoted,
evaluated, compared and served like any other; its test split is queued as an evaluation run at once,
so its predictions per review, confusion-matrix reviews and slices come from the one evaluation path.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from apps.common.jobs import JobRunner
from apps.registry.models import EnsembleBuild, ModelVersion
from apps.registry.selectors import ensemble_queue
from apps.reviews.snapshots import snapshot_label_counts
from apps.training.choices import ModelKind

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

MIN_MEMBERS = 2
MAX_MEMBERS = 8
MEMBER_KINDS = (ModelKind.TRANSFORMER, ModelKind.TFIDF)


class EnsembleRequestError(ValueError):
    """An ensemble cannot be built from what was asked; ``errors`` holds one message per field that was wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()))


def ensemble_build_errors(*, members: Sequence[ModelVersion]) -> dict[str, str]:
    """The message saying why ``members`` cannot make an ensemble (empty when they can)."""
    ids = [member.pk for member in members]
    repeated = sorted({pk for pk in ids if ids.count(pk) > 1})
    if repeated:
        return {"members": f"Model version {', '.join(map(str, repeated))} is listed more than once; list each member once."}
    if len(members) < MIN_MEMBERS:
        return {
            "members": f"An ensemble needs at least {MIN_MEMBERS} model versions trained on the same snapshot; "
            f"got {len(members)}."
        }
    if len(members) > MAX_MEMBERS:
        return {"members": f"An ensemble takes at most {MAX_MEMBERS} members; got {len(members)}."}
    nested = [member.pk for member in members if member.kind not in MEMBER_KINDS]
    if nested:
        return {
            "members": f"Model version {', '.join(map(str, nested))} is itself an ensemble; members must be trained "
            "versions (transformer or TF-IDF)."
        }
    unrecorded = [member.pk for member in members if member.snapshot_id is None]
    if unrecorded:
        return {
            "members": f"Model version {', '.join(map(str, unrecorded))} records no snapshot, so its weights cannot be "
            "fit on the validation split it was not trained on."
        }
    snapshots = {member.snapshot_id for member in members}
    if len(snapshots) > 1:
        described = ", ".join(f"version {member.pk} on snapshot {member.snapshot}" for member in members)
        return {
            "members": f"The members were trained on different snapshots ({described}); an ensemble combines versions "
            "of one snapshot, whose validation split fits its weights and whose test split measures it."
        }
    snapshot = members[0].snapshot
    assert snapshot is not None  # every member records its snapshot (checked above)
    counts = snapshot_label_counts(snapshot=snapshot)
    for split in ("validation", "test"):
        if sum(counts[split].values()) == 0:
            return {"members": f"The {split} split of snapshot {snapshot} is empty; an ensemble needs its validation and test reviews."}
    return {}


def ensemble_build_create(
    *,
    members: Sequence[ModelVersion],
    created_by: User | None = None,
    notes: str = "",
    enqueue: bool = True,
) -> EnsembleBuild:
    """Queue a build of an ensemble of ``members`` (two or more versions of one snapshot).

    Raises ``EnsembleRequestError`` saying what is wrong, ``BrokerUnavailable`` before writing anything
    when the broker is down. ``enqueue=False`` leaves the build for the caller to run with
    ``apps.registry.runners.ensemble_build_execute``.
    """
    members = list(members)
    errors = ensemble_build_errors(members=members)
    if errors:
        raise EnsembleRequestError(errors)
    with transaction.atomic():
        build = EnsembleBuildJob.submit(
            enqueue=enqueue, snapshot_id=members[0].snapshot_id, created_by=created_by, notes=notes
        )
        # Before the commit that sends the message: the worker finds the members with the row.
        build.members.set(members)
    return build


def ensemble_build_cancel(*, build: EnsembleBuild, by: User | None = None) -> EnsembleBuild:
    """Cancel a build: a queued one at once, a running one between two chunks of reviews."""
    return EnsembleBuildJob.cancel(build.pk, by=by)


def ensemble_members(build: EnsembleBuild) -> list[ModelVersion]:
    return list(build.members.select_related("snapshot").order_by("pk"))


class EnsembleBuildJob(JobRunner[EnsembleBuild]):
    """The kind of job as the web side sends and cancels it; its body is ``apps.registry.runners.EnsembleBuildRunner``."""

    model = EnsembleBuild
    task_name = "registry.build_ensemble"
    what = "ensemble build"
    # Members may be transformers: torch and the GPU memory go with the process.
    child_process = True

    @classmethod
    def queue_for(cls, job: EnsembleBuild) -> str:
        return ensemble_queue(ensemble_members(job))

    @classmethod
    def discard_for(cls, pk: int) -> None:
        shutil.rmtree(staging_dir(pk), ignore_errors=True)


def staging_dir(build_id: int) -> Path:
    """Where a build writes until it succeeds; named by its id so the reaper can remove what a dead worker left."""
    return Path(settings.ARTIFACT_ROOT) / ".incomplete" / f"ensemble-{build_id}"
