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
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from apps.common.broker import BrokerUnavailable
from apps.common.jobs import JobRunner
from apps.registry.models import EnsembleBuild, EnsembleMember, ModelVersion
from apps.registry.selectors import ensemble_queue
from apps.registry.services import (
    _json_safe,
    artifacts_discard,
    artifacts_publish,
    model_version_artifact_dir,
    model_version_auto_promote,
)
from apps.reviews.snapshots import snapshot_label_counts
from apps.training.choices import EvaluationSplit, ModelKind

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

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
    counts = snapshot_label_counts(snapshot=snapshot)
    for split in ("validation", "test"):
        if sum(counts[split].values()) == 0:
            return {"members": f"The {split} split of snapshot {snapshot} is empty; an ensemble needs its validation and test reviews."}
    return {}


def ensemble_build_create(
    *,
    members: Sequence[ModelVersion],
    created_by: AbstractBaseUser | None = None,
    notes: str = "",
    enqueue: bool = True,
) -> EnsembleBuild:
    """Queue a build of an ensemble of ``members`` (two or more versions of one snapshot).

    Raises ``EnsembleRequestError`` saying what is wrong, ``BrokerUnavailable`` before writing anything
    when the broker is down. ``enqueue=False`` leaves the build for the caller to run with
    ``ensemble_build_execute``.
    """
    members = list(members)
    errors = ensemble_build_errors(members=members)
    if errors:
        raise EnsembleRequestError(errors)
    with transaction.atomic():
        build = EnsembleBuildRunner.submit(
            enqueue=enqueue, snapshot_id=members[0].snapshot_id, created_by=created_by, notes=notes
        )
        # Before the commit that sends the message: the worker finds the members with the row.
        build.members.set(members)
    return build


def ensemble_build_cancel(*, build: EnsembleBuild, by: AbstractBaseUser | None = None) -> EnsembleBuild:
    """Cancel a build: a queued one at once, a running one between two chunks of reviews."""
    return EnsembleBuildRunner.cancel(build.pk, by=by)


def ensemble_build_execute(*, build_id: int, worker: str | None = None) -> EnsembleBuild | None:
    """Build the queued ensemble ``build_id`` in this process; None when it was not queued."""
    return EnsembleBuildRunner.handle(build_id, worker=worker)


def ensemble_members(build: EnsembleBuild) -> list[ModelVersion]:
    return list(build.members.select_related("snapshot").order_by("pk"))


class EnsembleBuildRunner(JobRunner[EnsembleBuild]):
    model = EnsembleBuild
    task_name = "registry.build_ensemble"
    what = "ensemble build"
    # Members may be transformers: torch and the GPU memory go with the process.
    child_process = True

    @classmethod
    def queue_for(cls, job: EnsembleBuild) -> str:
        return ensemble_queue(ensemble_members(job))

    def run(self) -> None:
        from apps.reviews.snapshots import snapshot_examples
        from apps.training.runners import examples_of
        from workers.ml import TrainingCancelled
        from workers.ml.ensemble import MemberSource, build_ensemble

        build = self.job
        members = self.db.call(lambda: ensemble_members(build))
        sources = [MemberSource(member.pk, model_version_artifact_dir(version=member)) for member in members]
        validation = self.db.call(lambda: examples_of(snapshot_examples(snapshot=build.snapshot_id, split="validation")))
        test = self.db.call(lambda: examples_of(snapshot_examples(snapshot=build.snapshot_id, split="test")))
        self.db.call(lambda: EnsembleBuild.objects.filter(pk=build.pk).update(device=_device_for(members)))
        self.progress.log_line(
            f"Scoring {len(members)} members (model versions {', '.join(str(m.pk) for m in members)}) on "
            f"{len(validation)} validation and {len(test)} test reviews."
        )

        def should_stop() -> bool:
            if self.progress.should_stop():
                raise TrainingCancelled("The ensemble build was cancelled on request.")
            return False

        staging = staging_dir(build.pk)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        snapshot = build.snapshot
        self.result = build_ensemble(
            sources,
            validation,
            test,
            staging / "model",
            lineage={
                "ensemble_build_id": build.pk,
                "member_versions": ", ".join(str(member.pk) for member in members),
                "snapshot_id": snapshot.pk,
                "snapshot_name": snapshot.name,
                "snapshot_content_hash": snapshot.content_hash,
            },
            progress=self.progress,
            should_stop=should_stop,
        )

    def child_state(self) -> dict[str, Any]:
        return {**asdict(self.result), "artifact_dir": str(self.result.artifact_dir)}

    def adopt_child_state(self, state: dict[str, Any]) -> None:
        from workers.ml.ensemble import EnsembleResult

        self.result = EnsembleResult(**{**state, "artifact_dir": Path(state["artifact_dir"])})

    def record_success(self, build: EnsembleBuild) -> None:
        """Publish the artifacts, register the version with its members, queue its test evaluation (row locked)."""
        from apps.training.runners import store_metrics

        result = self.result
        # Named once: a retry after a database outage finds the folder already published.
        name = self.artifact_name = getattr(self, "artifact_name", None) or f"ensemble-{build.pk}-{uuid.uuid4().hex[:8]}"
        if Path(result.artifact_dir).exists():
            artifacts_publish(folder=Path(result.artifact_dir), name=name)
        shutil.rmtree(staging_dir(build.pk), ignore_errors=True)
        store_metrics(build, result.metrics)
        build.processed = build.total
        version = ModelVersion.objects.create(
            kind=ModelKind.ENSEMBLE,
            snapshot_id=build.snapshot_id,
            artifact_path=name,
            artifact_size=int(result.artifact_size or 0),
            manifest=_json_safe(result.manifest),
            test_accuracy=result.metrics.get("accuracy"),
            test_f1=result.metrics.get("f1"),
        )
        EnsembleMember.objects.bulk_create(
            EnsembleMember(
                ensemble=version, member_id=item["model_version_id"], position=item["position"], weight=item["weight"]
            )
            for item in result.members
        )
        build.model_version = version
        members = ", ".join(
            f"version {item['model_version_id']} ({item['kind']}) test accuracy {item['test']['accuracy']:.4f}, "
            f"weight {item['weight']:.3f}"
            for item in result.members
        )
        build.append_log(
            f"Succeeded in {result.wall_seconds:.0f} s: ensemble test accuracy {build.accuracy:.4f}, F1 {build.f1:.4f}; "
            f"members: {members}. Registered model version {version.pk}.\n"
        )
        model_version_auto_promote(version=version)
        build.append_log(_queue_test_evaluation(version, build))

    def discard(self) -> None:
        super().discard()
        name = getattr(self, "artifact_name", None)
        if name is not None:
            artifacts_discard(name=name)

    @classmethod
    def discard_for(cls, pk: int) -> None:
        shutil.rmtree(staging_dir(pk), ignore_errors=True)


def _queue_test_evaluation(version: ModelVersion, build: EnsembleBuild) -> str:
    """Queue the ensemble's evaluation on the test split; the log line says what happened."""
    from apps.training.services import RunConfigError, evaluation_run_create

    try:
        evaluation = evaluation_run_create(
            model_version=version, split=EvaluationSplit.TEST, created_by=build.created_by
        )
    except (BrokerUnavailable, RunConfigError) as error:
        logger.warning("The test evaluation of ensemble version %s was not queued: %s", version.pk, error)
        return f"Its test evaluation could not be queued ({error}); start it from the version's page.\n"
    return f"Queued evaluation {evaluation.pk} of it on the test split (its predictions per review and slices).\n"


def _device_for(members: Sequence[ModelVersion]) -> str:
    if not any(member.kind == ModelKind.TRANSFORMER for member in members):
        return "cpu"
    from workers.ml.devices import describe_device

    return describe_device()[0]


def staging_dir(build_id: int) -> Path:
    """Where a build writes until it succeeds; named by its id so the reaper can remove what a dead worker left."""
    return Path(settings.ARTIFACT_ROOT) / ".incomplete" / f"ensemble-{build_id}"
