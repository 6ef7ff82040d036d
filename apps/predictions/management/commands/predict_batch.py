"""``manage.py predict_batch``: predict a pool of reviews with one model version."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.choices import JobStatus
from apps.common.labels import QueuePool
from apps.predictions.batch import BatchJobError, batch_prediction_job_create, queue_for
from apps.predictions.runners import batch_prediction_job_execute
from apps.registry.models import ModelVersion
from apps.reviews.choices import Split
from apps.reviews.models import DatasetSnapshot, ImportJob


class Command(BaseCommand):
    help = (
        "Predict every review of a pool with a model version and store the predictions: the unlabelled "
        "reviews, a snapshot's split, one import's reviews, or all reviews. Queued on a worker by default; "
        "--now predicts in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model-version", required=True, type=int, metavar="ID")
        parser.add_argument("--pool", required=True, choices=QueuePool.values)
        parser.add_argument("--snapshot", type=int, metavar="ID", help="With --pool snapshot_split.")
        parser.add_argument("--split", default="", choices=["", *Split.values], help="With --pool snapshot_split.")
        parser.add_argument("--import-job", type=int, metavar="ID", help="With --pool import.")
        parser.add_argument("--now", action="store_true", help="Predict in this process instead of on a worker.")

    def handle(self, *args: Any, **options: Any) -> None:
        version = _get(ModelVersion, options["model_version"], "--model-version", "model version")
        snapshot = _get(DatasetSnapshot, options["snapshot"], "--snapshot", "snapshot")
        import_job = _get(ImportJob, options["import_job"], "--import-job", "import")
        try:
            job = batch_prediction_job_create(
                model_version=version,
                pool=options["pool"],
                snapshot=snapshot,
                split=options["split"],
                import_job=import_job,
                enqueue=not options["now"],
            )
        except BatchJobError as error:
            lines = [f"  --{field.replace('_', '-')}: {message}" for field, message in error.errors.items()]
            raise CommandError("\n".join(["The batch prediction job was not created:", *lines])) from None
        if not options["now"]:
            self.stdout.write(
                f"Queued batch prediction job {job.pk} on the {queue_for(version)} queue; "
                "follow it in the admin (Batch prediction jobs)."
            )
            return
        self.stdout.write(f"Batch prediction job {job.pk} in this process ...")
        batch_prediction_job_execute(job_id=job.pk)
        job.refresh_from_db()
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Batch prediction job {job.pk} {job.status}" + (f": {job.error}" if job.error else "."))
        self.stdout.write(
            self.style.SUCCESS(
                f"Batch prediction job {job.pk} succeeded: {job.processed} of {job.total} reviews predicted "
                f"with model version {version.pk}."
            )
        )


def _get(model: Any, pk: int | None, option: str, what: str) -> Any:
    if pk is None:
        return None
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise CommandError(f"{option}: there is no {what} {pk}.")
    return found
