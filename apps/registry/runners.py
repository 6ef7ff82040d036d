"""Job bodies of the registry, run on a worker: ensemble builds (``EnsembleBuildRunner``) and Hub jobs (``HubRunner``).

Queueing and cancelling them is ``apps.registry.ensembles`` and ``apps.registry.hub``, whose kinds of job
these extend; only the worker side (the tasks, the child process, commands run with ``--now``) imports
this module.
"""

from __future__ import annotations

import logging
import shutil
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

from apps.common.broker import BrokerUnavailable
from apps.registry.ensembles import EnsembleBuildJob, ensemble_members
from apps.registry.ensembles import staging_dir as ensemble_staging_dir
from apps.registry.hub import HubJobKind
from apps.registry.hub import staging_dir as hub_staging_dir
from apps.registry.models import EnsembleBuild, EnsembleMember, HubJob, ModelVersion
from apps.registry.services import (
    _json_safe,
    artifacts_discard,
    artifacts_publish,
    model_version_artifact_dir,
    model_version_auto_promote,
)
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import snapshot_examples
from apps.training.choices import EvaluationSplit, ModelKind
from workers.ml.hub import HubError, hub_token

logger = logging.getLogger(__name__)


# --- Ensemble builds -------------------------------------------------------------------------------------


def ensemble_build_execute(*, build_id: int, worker: str | None = None) -> EnsembleBuild | None:
    """Build the queued ensemble ``build_id`` in this process; None when it was not queued."""
    return EnsembleBuildRunner.handle(build_id, worker=worker)


class EnsembleBuildRunner(EnsembleBuildJob):
    """The build's body, on a worker: score the members, fit the weights, publish and register the version."""

    # Declared again so that, where the job's body is loaded (a worker), it is the kind of EnsembleBuild jobs.
    model = EnsembleBuild

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

        staging = ensemble_staging_dir(build.pk)
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
        shutil.rmtree(ensemble_staging_dir(build.pk), ignore_errors=True)
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


# --- Hub jobs ---------------------------------------------------------------------------------------------


class HubRunner(HubJobKind):
    """A Hub job's body, on a worker: publish a version to the Hub, or register a model from it."""

    # Declared again so that, where the job's body is loaded (a worker), it is the kind of HubJob jobs.
    model = HubJob

    def run(self) -> None:
        if self.job.action == HubJob.Action.PUBLISH:
            self._publish()
        else:
            self._register()

    def _publish(self) -> None:
        from workers.ml.hub import export_to_temporary, publish_folder

        job = self.job
        # Publish jobs are created with their version (hub_publish_submit).
        version = cast(ModelVersion, job.model_version)
        token = hub_token()
        artifact_dir = self.db.call(lambda: model_version_artifact_dir(version=version))
        self.progress.log_line(f"Exporting model version {version.pk} as a Hub model folder.")
        folder = export_to_temporary(
            artifact_dir, model_name=job.repo_id, base_model=version.base_model, license=job.license
        )
        try:
            self.progress.check_cancelled(force=True)
            visibility = "private" if job.private else "public"
            self.progress.log_line(f"Uploading to {visibility} repository {job.repo_id}.")
            try:
                self.outcome = publish_folder(
                    folder, repo_id=job.repo_id, private=job.private, token=token,
                    commit_message=f"Sentiment model version {version.pk} (snapshot {version.snapshot_id})",
                )  # fmt: skip
            except Exception as error:
                # A server or proxy that echoes the request: the token must reach neither the job's error nor its log.
                if token in "".join(traceback.format_exception(error)):
                    raise HubError(self.failure_message(error).replace(token, "[HF_TOKEN]")) from None
                raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _register(self) -> None:
        from apps.training.runners import examples_of
        from workers.ml.hub import register_external

        job = self.job
        # Register jobs are created with their snapshot (hub_register_submit).
        snapshot = cast(DatasetSnapshot, job.snapshot)
        test = self.db.call(lambda: examples_of(snapshot_examples(snapshot=snapshot.pk, split="test")))
        staging = hub_staging_dir(job.pk)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        self.result = register_external(
            job.source,
            staging / "model",
            test,
            revision=job.revision or None,
            lineage={
                "snapshot_id": snapshot.pk,
                "snapshot_name": snapshot.name,
                "snapshot_content_hash": snapshot.content_hash,
                "hub_job_id": job.pk,
            },
            log=self.progress.log_line,
            should_stop=self.progress.should_stop,
        )

    def record_success(self, job: HubJob) -> None:
        if job.action == HubJob.Action.PUBLISH:
            job.result_url = self.outcome["repo_url"][:500]
            job.commit_oid = self.outcome["commit_oid"][:64]
            job.append_log(f"Published: {self.outcome['commit_url']}\n")
            return
        from apps.registry.services import _json_safe

        result = self.result
        # Named once: a retry after a database outage finds the folder already published.
        name = self.artifact_name = getattr(self, "artifact_name", None) or f"hub-{job.pk}-{uuid.uuid4().hex[:8]}"
        if Path(result.artifact_dir).exists():
            artifacts_publish(folder=Path(result.artifact_dir), name=name)
        shutil.rmtree(hub_staging_dir(job.pk), ignore_errors=True)
        version = ModelVersion.objects.create(
            kind=ModelKind.TRANSFORMER,
            base_model=job.source[:500],
            snapshot_id=job.snapshot_id,
            artifact_path=name,
            artifact_size=int(result.artifact_size),
            manifest=_json_safe(result.manifest),
            test_accuracy=result.metrics.get("accuracy"),
            test_f1=result.metrics.get("f1"),
        )
        job.model_version = version
        job.commit_oid = result.revision[:64]
        job.append_log(
            f"Registered model version {version.pk}: test accuracy {version.test_accuracy:.4f}, F1 "
            f"{version.test_f1:.4f} on snapshot {job.snapshot_id}'s {len(result.test_predictions)} test reviews.\n"
        )

    def discard(self) -> None:
        super().discard()
        name = getattr(self, "artifact_name", None)
        if name is not None:
            artifacts_discard(name=name)
