"""``manage.py evaluate``: measure a model version on a snapshot split or on the human-labelled reviews."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.choices import JobStatus
from apps.training.choices import EvaluationSplit
from apps.training.forms import EvaluationRunForm
from apps.training.management.commands.train import follow, form_errors_message
from apps.training.models import EvaluationRun
from apps.training.runners import QUEUE_BY_KIND
from apps.training.services import evaluation_run_execute


class Command(BaseCommand):
    help = (
        "Evaluate a model version on a split of a dataset snapshot (train, validation, test) or on the "
        "reviews with a resolved human label (human). Through the queue by default, following it until "
        "it ends; --no-wait only queues it, --now evaluates in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model-version", required=True, metavar="ID", help="The model version to evaluate.")
        parser.add_argument(
            "--snapshot", metavar="ID", default="", help="Default: the snapshot the version was trained on."
        )
        parser.add_argument(
            "--split", default=EvaluationSplit.TEST, help=f"One of {', '.join(EvaluationSplit.values)} (default test)."
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--now", action="store_true", help="Evaluate in this process instead of on a worker.")
        mode.add_argument("--no-wait", action="store_true", help="Queue the evaluation and return at once.")

    def handle(self, *args: Any, **options: Any) -> None:
        form = EvaluationRunForm(
            data={"model_version": options["model_version"], "snapshot": options["snapshot"], "split": options["split"]}
        )
        if not form.is_valid():
            raise CommandError(form_errors_message(form, "The evaluation was not started"))
        if options["now"]:
            evaluation = form.create(enqueue=False)
            self.stdout.write(f"Evaluation {evaluation.pk} in this process ...")
            evaluation_run_execute(run_id=evaluation.pk)
        else:
            evaluation = form.create()
            queue = QUEUE_BY_KIND.get(evaluation.model_version.kind, "default")
            self.stdout.write(f"Queued evaluation {evaluation.pk} on the {queue} queue.")
            if options["no_wait"]:
                return
            follow(self, EvaluationRun, evaluation.pk, describe=lambda job: (job.processed, job.total, ""))
        evaluation = EvaluationRun.objects.get(pk=evaluation.pk)
        if evaluation.status != JobStatus.SUCCEEDED:
            raise CommandError(
                f"Evaluation {evaluation.pk} {evaluation.status}"
                + (f": {evaluation.error}" if evaluation.error else ".")
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Evaluation {evaluation.pk} of model version {evaluation.model_version_id} on {evaluation.total} "
                f"{evaluation.split} reviews: accuracy {evaluation.accuracy:.4f}, precision {evaluation.precision:.4f}, "
                f"recall {evaluation.recall:.4f}, F1 {evaluation.f1:.4f}."
            )
        )
