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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from apps.common.jobs import JobRunner
from apps.registry.models import HubJob, ModelVersion
from apps.reviews.models import DatasetSnapshot
from workers.ml.data import LABEL_NAMES
from workers.ml.hub import HubError, exportable_problem, hub_token, repo_id_problem, revision_problem

if TYPE_CHECKING:
    from django.contrib.auth.models import User

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
    by: User | None = None,
    enqueue: bool = True,
) -> HubJob:
    """Queue publishing `version` to the Hub repository `repo_id`; HubError says why it was refused."""
    repo_id, license = hub_publish_check(version=version, repo_id=repo_id, license=license)
    return HubJobKind.submit(
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
    by: User | None = None,
    enqueue: bool = True,
) -> HubJob:
    """Queue registering the model `source` (a Hub id or a folder on the workers), scored on `snapshot`'s test split."""
    source = hub_register_check(source=source, snapshot=snapshot, revision=revision)
    return HubJobKind.submit(
        enqueue=enqueue, action=HubJob.Action.REGISTER, source=source, revision=revision.strip(), snapshot=snapshot,
        created_by=by,
    )  # fmt: skip


class HubJobKind(JobRunner[HubJob]):
    """The kind of job as the web side sends it; its body is ``apps.registry.runners.HubRunner``."""

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
