"""Label-noise detection as a kind of job: which labels of a snapshot or an import look wrong, and how many.

This module is what the web side needs: starting a detection, reading what detections found. The job's
body, run on a worker, is ``apps.labelling.runners.NoiseRunner``: it reads the labelled reviews of its
scope, has each one scored by a TF-IDF model fitted on the other folds (``workers.ml.noise``), and stores
every review's verdict (``NoiseScore``) with the totals in the transaction that marks it succeeded, so a
failed or cancelled detection leaves no scores behind.
The suspicious queues then reorder by it (``apps.labelling.ordering``): flagged labels first, lowest
out-of-sample probability of the label first.

The label checked is the one the scope holds: a snapshot's frozen label; for an import, the label a
``gold_and_human`` snapshot would take (an ML admin's settled label, else the gold label, else the
resolved human one), so a detection over an import checks what the next snapshot would learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q

from apps.common.choices import JobStatus
from apps.common.jobs import JobRunner
from apps.labelling.choices import QueuePool, QueueStrategy
from apps.labelling.models import LabellingQueue, NoiseDetection, NoiseScore
from apps.reviews.choices import Split
from apps.reviews.models import DatasetSnapshot, ImportJob

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

NOISE_QUEUE = "default"
# Snapshots and imports the overview lists, latest first.
OVERVIEW_LIMIT = 50


class NoiseDetectionError(ValueError):
    """A detection cannot be started as asked; ``errors`` holds one message per field."""

    def __init__(self, errors: dict[str, str], *, http_status: int = 400) -> None:
        self.errors = dict(errors)
        self.http_status = http_status
        super().__init__(" ".join(self.errors.values()))


class NoiseJob(JobRunner[NoiseDetection]):
    """The kind of job as the web side sends and cancels it; its body is ``apps.labelling.runners.NoiseRunner``."""

    model = NoiseDetection
    task_name = "labelling.detect_noise"
    what = "label-noise detection"

    @classmethod
    def queue_for(cls, job: NoiseDetection) -> str:
        return NOISE_QUEUE

    @classmethod
    def discard_for(cls, pk: int) -> None:
        NoiseScore.objects.filter(detection_id=pk).delete()


# --- Starting a detection --------------------------------------------------------------------------------


def noise_detection_start(
    *,
    snapshot: DatasetSnapshot | None = None,
    split: str = "",
    import_job: ImportJob | None = None,
    folds: int = 5,
    repeats: int = 3,
    ngram_max: int = 2,
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> NoiseDetection:
    """Queue a detection over a snapshot (one split, or all with ``split=""``) or an import's reviews.

    Raises ``NoiseDetectionError`` (a message per field) for a missing or double scope, bad fold settings,
    or a detection of the same scope already queued or running (409); ``broker.BrokerUnavailable`` when
    no worker can be reached, before anything is written.
    """
    from workers.ml.noise import NoiseSettings

    errors: dict[str, str] = {}
    if (snapshot is None) == (import_job is None):
        errors["scope"] = "Choose what to check: a snapshot (and optionally one of its splits) or an import, not both."
    if split and split not in Split.values:
        errors["split"] = f"Unknown split {split!r}: choose one of {', '.join(Split.values)}, or none for every split."
    elif split and snapshot is None:
        errors["split"] = "A split applies to a snapshot only; leave it empty for an import."
    if import_job is not None and import_job.status != JobStatus.SUCCEEDED:
        errors["import_job"] = f"Import {import_job.pk} is {import_job.status}: only a finished import has reviews to check."
    settings_errors = NoiseSettings(folds=folds, repeats=repeats, ngram_max=ngram_max).errors()
    errors.update({name: settings_errors[name] for name in ("folds", "repeats", "ngram_max") if name in settings_errors})
    if errors:
        raise NoiseDetectionError(errors)
    with transaction.atomic():
        # The scope's row lock: two starts at the same moment take turns, and the second sees the first.
        if snapshot is not None:
            DatasetSnapshot.objects.select_for_update().filter(pk=snapshot.pk).exists()
            scope = Q(snapshot=snapshot, split=split)
        else:
            ImportJob.objects.select_for_update().filter(pk=import_job.pk).exists()  # type: ignore[union-attr]
            scope = Q(import_job=import_job)
        running = NoiseDetection.objects.filter(scope, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
        if running is not None:
            raise NoiseDetectionError(
                {"scope": f"Detection {running.pk} of {running.scope_label} is {running.status} already; wait for it."},
                http_status=409,
            )
        return NoiseJob.submit(
            enqueue=enqueue,
            snapshot=snapshot,
            split=split,
            import_job=import_job,
            folds=folds,
            repeats=repeats,
            ngram_max=ngram_max,
            total=folds * repeats,
            created_by=created_by,
        )


def queues_reorder_for_noise(*, succeeding: NoiseDetection | None = None) -> list[LabellingQueue]:
    """Reorder the suspicious queues over labelled pools after a detection (their order reads its scores).

    ``succeeding``: the detection whose success is being recorded in this transaction; its scores count
    as a succeeded detection's already.
    """
    from apps.labelling.ordering import queue_order_rebuild

    queues = list(
        LabellingQueue.objects.filter(strategy=QueueStrategy.SUSPICIOUS).exclude(pool=QueuePool.UNLABELLED).order_by("pk")
    )
    for queue in queues:
        queue_order_rebuild(queue=queue, succeeding_detection=succeeding)
    return queues


# --- Reading what detections found -----------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseRow:
    """One scope on the label-noise page: a snapshot (one split or all) or an import, and its detections."""

    snapshot: DatasetSnapshot | None
    import_job: ImportJob | None
    split: str
    latest: NoiseDetection | None  # the latest detection, whatever its status
    result: NoiseDetection | None  # the latest that succeeded: what the estimate shown comes from

    @property
    def scope(self) -> str:
        return "snapshot" if self.snapshot is not None else "import"


def noise_overview(*, limit: int = OVERVIEW_LIMIT) -> list[NoiseRow]:
    """A row per scope checked, and one per snapshot or finished import not checked yet (latest first)."""
    found: dict[tuple[int | None, str, int | None], list[NoiseDetection]] = {}
    for detection in NoiseDetection.objects.select_related("snapshot", "import_job").order_by("created_at", "pk"):
        found.setdefault((detection.snapshot_id, detection.split, detection.import_job_id), []).append(detection)
    rows: list[NoiseRow] = []
    for snapshot in DatasetSnapshot.objects.order_by("-created_at", "-pk")[:limit]:
        keys = sorted((key for key in found if key[0] == snapshot.pk), key=lambda key: key[1]) or [(snapshot.pk, "", None)]
        rows.extend(_row(found.get(key, []), snapshot=snapshot, split=key[1]) for key in keys)
    for import_job in ImportJob.objects.filter(status=JobStatus.SUCCEEDED).order_by("-created_at", "-pk")[:limit]:
        rows.append(_row(found.get((None, "", import_job.pk), []), import_job=import_job))
    return rows


def _row(
    detections: list[NoiseDetection],
    *,
    snapshot: DatasetSnapshot | None = None,
    import_job: ImportJob | None = None,
    split: str = "",
) -> NoiseRow:
    succeeded = [detection for detection in detections if detection.status == JobStatus.SUCCEEDED]
    return NoiseRow(
        snapshot=snapshot,
        import_job=import_job,
        split=split,
        latest=detections[-1] if detections else None,
        result=succeeded[-1] if succeeded else None,
    )

