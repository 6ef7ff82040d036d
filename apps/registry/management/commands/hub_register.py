"""``manage.py hub_register SOURCE --snapshot ID [--revision REV]``: a model fine-tuned elsewhere becomes a version."""

from __future__ import annotations

from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.choices import JobStatus
from apps.registry.hub import hub_register_submit
from apps.registry.models import HubJob, ModelVersion
from apps.registry.runners import HubRunner
from apps.reviews.models import DatasetSnapshot
from apps.training.management.commands.train import follow
from workers.ml.hub import HubError


def finish(command: BaseCommand, job: HubJob, *, wait: bool) -> HubJob | None:
    """Follow a queued Hub job until it ends (unless not `wait`); the job when it succeeded, else CommandError."""
    job = HubJob.objects.get(pk=job.pk)
    if not job.is_finished:
        queue = HubRunner.queue_for(job)
        command.stdout.write(f"Queued Hub job {job.pk} on the {queue} queue.")
        if not wait:
            return None
        follow(command, HubJob, job.pk, describe=lambda current: (0, 0, current.log_tail))
        job = HubJob.objects.get(pk=job.pk)
    if job.status != JobStatus.SUCCEEDED:
        raise CommandError(f"Hub job {job.pk} {job.status}" + (f": {job.error}" if job.error else "."))
    return job


class Command(BaseCommand):
    help = (
        "Register a two-label sentiment classifier fine-tuned elsewhere (a Hugging Face Hub id, or a folder on the "
        "workers saved with save_pretrained; safetensors only, no remote code) as a model version: its labels are "
        "mapped onto negative/positive and it is scored on the snapshot's test split, so it can be compared and "
        "promoted like the platform's own. Through the gpu queue by default; --now runs it in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", metavar="SOURCE", help="A Hub model id (owner/name) or a folder on the workers.")
        parser.add_argument("--snapshot", type=int, required=True, metavar="ID", help="Score it on this snapshot's test split.")
        parser.add_argument("--revision", default="", help="A branch, tag or commit of the Hub model (default main).")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--now", action="store_true", help="Register from this process instead of a worker.")
        mode.add_argument("--no-wait", action="store_true", help="Queue the job and return at once.")

    def handle(self, *args: Any, **options: Any) -> None:
        snapshot = DatasetSnapshot.objects.filter(pk=options["snapshot"]).first()
        if snapshot is None:
            raise CommandError(f"There is no snapshot {options['snapshot']}.")
        try:
            job = hub_register_submit(
                source=options["source"], snapshot=snapshot, revision=options["revision"], enqueue=not options["now"]
            )
        except HubError as error:
            raise CommandError(str(error)) from None
        if options["now"]:
            HubRunner.handle(job.pk)
        finished = finish(self, job, wait=not options["no_wait"])
        if finished is not None:
            # A register job that succeeded has registered its version.
            version = cast(ModelVersion, finished.model_version)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Registered {options['source']} as model version {version.pk}: test accuracy "
                    f"{version.test_accuracy:.4f}, F1 {version.test_f1:.4f} on snapshot {snapshot.pk}."
                )
            )
