"""The Hugging Face Hub as a kind of job (``HubJob``): publish a version as a standard Hub model, or register a
model fine-tuned elsewhere as a version of our own.

- **Publish** (queue ``default``): the version's artifact folder becomes a Hub model folder
  (``workers.ml.hub.export_folder``) and goes up with huggingface_hub's ``upload_folder``, with the token from
  HF_TOKEN, to the repository and visibility the ML admin chose. Refused before anything is queued when there
  is no token, the repository id is malformed, the version is a TF-IDF model or is not two-label.
- **Register** (queue ``gpu``): a Hub id or a folder on the workers, label map checked and mapped, scored on a
  snapshot's test split, published to the artifact storage and recorded as a version with that snapshot, so
  it is compared with the versions trained on it and promoted like them.

Views, the API and the commands call ``hub_publish_submit`` / ``hub_register_submit`` and render the job.
"""

from __future__ import annotations

import shutil
import traceback
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from apps.common.jobs import JobRunner
from apps.registry.models import HubJob, ModelVersion
from apps.registry.services import (
    artifacts_discard,
    artifacts_publish,
    model_version_artifact_dir,
)
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import snapshot_examples
from apps.training.choices import ModelKind
from workers.ml.data import LABEL_NAMES
from workers.ml.hub import HubError, exportable_problem, hub_token, repo_id_problem, revision_problem

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

LICENSE_MAX = 64


def hub_publish_check(*, version: ModelVersion, repo_id: str, license: str = "apache-2.0") -> tuple[str, str]:
    """The repository id and license to publish `version` with, cleaned; HubError says why it would be refused."""
    repo_id = repo_id.strip()
    hub_token()
    problem = repo_id_problem(repo_id)
    if problem:
        raise HubError(problem)
    ours = {str(label): name for label, name in LABEL_NAMES.items()}
    exportable = exportable_problem({"kind": version.kind, "label_map": (version.manifest or {}).get("label_map", ours)})
    if exportable:
        raise HubError(f"Model version {version.pk} cannot be published to the Hub. {exportable}")
    license = license.strip() or "apache-2.0"
    if len(license) > LICENSE_MAX or not license.replace("-", "").replace(".", "").isalnum():
        raise HubError(f"{license!r} is not a license identifier such as apache-2.0, mit or other.")
    return repo_id, license


def hub_publish_submit(
    *,
    version: ModelVersion,
    repo_id: str,
    private: bool,
    license: str = "apache-2.0",
    by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> HubJob:
    """Queue publishing `version` to the Hub repository `repo_id`; HubError says why it was refused."""
    repo_id, license = hub_publish_check(version=version, repo_id=repo_id, license=license)
    return HubRunner.submit(
        enqueue=enqueue, action=HubJob.Action.PUBLISH, model_version=version, repo_id=repo_id, private=private,
        license=license, created_by=by,
    )  # fmt: skip


def hub_register_check(*, source: str, snapshot: DatasetSnapshot, revision: str = "") -> str:
    """The source to register, cleaned; HubError says why it would be refused."""
    source = source.strip()
    problem = revision_problem(revision.strip())
    if problem:
        raise HubError(problem)
    if not source:
        raise HubError("Give the model to register: a Hub model id (owner/name) or a folder on the workers.")
    if not source.startswith(("/", "~", ".")):
        problem = repo_id_problem(source)
        if problem:
            raise HubError(f"{problem} (Or give an absolute path to a folder on the workers.)")
    if not snapshot.test_count:
        raise HubError(f"Snapshot {snapshot.pk} has no test reviews to score the model on; choose another snapshot.")
    return source


def hub_register_submit(
    *,
    source: str,
    snapshot: DatasetSnapshot,
    revision: str = "",
    by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> HubJob:
    """Queue registering the model `source` (a Hub id or a folder on the workers), scored on `snapshot`'s test split."""
    source = hub_register_check(source=source, snapshot=snapshot, revision=revision)
    return HubRunner.submit(
        enqueue=enqueue, action=HubJob.Action.REGISTER, source=source, revision=revision.strip(), snapshot=snapshot,
        created_by=by,
    )  # fmt: skip


class HubRunner(JobRunner[HubJob]):
    model = HubJob
    task_name = "registry.run_hub_job"
    what = "Hub job"

    @classmethod
    def queue_for(cls, job: HubJob) -> str:
        return "gpu" if job.action == HubJob.Action.REGISTER else "default"

    @classmethod
    def failure_message(cls, error: BaseException) -> str:
        if isinstance(error, HubError):
            return str(error)
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

        if isinstance(error, OfflineModeIsEnabled):
            return (
                "The worker runs with HF_HUB_OFFLINE set, so it may not reach the Hub: unset it on the workers of "
                "the default queue (or point HF_ENDPOINT at a Hub they reach) and publish again."
            )
        if isinstance(error, HfHubHTTPError):
            status = error.response.status_code if error.response is not None else "no answer"
            return f"The Hub refused the upload ({status}): {str(error).splitlines()[0]}"
        return super().failure_message(error)

    def run(self) -> None:
        if self.job.action == HubJob.Action.PUBLISH:
            self._publish()
        else:
            self._register()

    def _publish(self) -> None:
        from workers.ml.hub import export_to_temporary, publish_folder

        job = self.job
        version = job.model_version
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
        snapshot = job.snapshot
        test = self.db.call(lambda: examples_of(snapshot_examples(snapshot=snapshot.pk, split="test")))
        staging = staging_dir(job.pk)
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
        shutil.rmtree(staging_dir(job.pk), ignore_errors=True)
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

    @classmethod
    def discard_for(cls, pk: int) -> None:
        shutil.rmtree(staging_dir(pk), ignore_errors=True)


def staging_dir(job_id: int) -> Path:
    """Where a registration writes until it succeeds; named by job id so the reaper can remove it."""
    return Path(settings.ARTIFACT_ROOT) / ".incomplete" / f"hub-{job_id}"


def hub_job_summary(job: HubJob) -> dict[str, Any]:
    """What a person reads about a Hub job: for the command line and logs."""
    return {
        "id": job.pk, "action": job.action, "status": job.status, "repo_id": job.repo_id, "private": job.private,
        "source": job.source, "model_version": job.model_version_id, "result_url": job.result_url,
        "commit": job.commit_oid, "error": job.error,
    }  # fmt: skip
