"""``manage.py evaluate``: measure a model version on a snapshot split, the human labels, an import or a labelled file."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.choices import JobStatus
from apps.registry.selectors import model_version_queue
from apps.training.choices import EvaluationSplit
from apps.training.forms import EvaluationRunForm
from apps.training.management.commands.train import follow, form_errors_message
from apps.training.models import EvaluationRun
from apps.training.runners import evaluation_run_execute


class Command(BaseCommand):
    help = (
        "Evaluate a model version on a split of a dataset snapshot (train, validation, test) or on the "
        "reviews with a resolved human label (human), on the labelled reviews of an import (--import) or on a "
        "labelled CSV or JSONL file (--file, kept as its own source). Through the queue by default, following it "
        "until it ends; --no-wait only queues it, --now evaluates in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model-version", required=True, metavar="ID", help="The model version to evaluate.")
        parser.add_argument(
            "--snapshot", metavar="ID", default="", help="Default: the snapshot the version was trained on."
        )
        parser.add_argument(
            "--split",
            default="",
            help=f"One of {', '.join(EvaluationSplit.values)} (default test, or what --import or --file implies).",
        )
        data = parser.add_mutually_exclusive_group()
        data.add_argument("--import", dest="review_import", metavar="ID", default="", help="Evaluate on this import's labelled reviews.")
        data.add_argument("--dataset", metavar="ID", default="", help="Evaluate on an earlier uploaded evaluation file.")
        data.add_argument("--file", metavar="PATH", default="", help="A labelled CSV or JSONL file to store and evaluate on.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--now", action="store_true", help="Evaluate in this process instead of on a worker.")
        mode.add_argument("--no-wait", action="store_true", help="Queue the evaluation and return at once.")

    def handle(self, *args: Any, **options: Any) -> None:
        split = options["split"] or (
            EvaluationSplit.IMPORT
            if options["review_import"]
            else EvaluationSplit.FILE
            if options["dataset"] or options["file"]
            else EvaluationSplit.TEST
        )
        data = {
            "model_version": options["model_version"],
            "snapshot": options["snapshot"],
            "split": split,
            "review_import": options["review_import"],
            "dataset": options["dataset"],
        }
        path = Path(options["file"]) if options["file"] else None
        if path is not None and not path.is_file():
            raise CommandError(f"There is no file {path}.")
        with path.open("rb") if path else nullcontext() as handle:
            form = EvaluationRunForm(data=data, files={"file": File(handle, name=path.name)} if path else None)
            if not form.is_valid():
                raise CommandError(form_errors_message(form, "The evaluation was not started"))
            evaluation = form.create(enqueue=not options["now"])
        if evaluation is None:
            raise CommandError(form_errors_message(form, "The evaluation was not started"))
        if options["now"]:
            self.stdout.write(f"Evaluation {evaluation.pk} in this process ...")
            evaluation_run_execute(run_id=evaluation.pk)
        else:
            queue = model_version_queue(evaluation.model_version)
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
        uploaded = evaluation.split in (EvaluationSplit.IMPORT, EvaluationSplit.FILE)
        what = f"reviews of {evaluation.data_description}" if uploaded else f"{evaluation.split} reviews"
        self.stdout.write(
            self.style.SUCCESS(
                f"Evaluation {evaluation.pk} of model version {evaluation.model_version_id} on {evaluation.total} "
                f"{what}: accuracy {evaluation.accuracy:.4f}, precision {evaluation.precision:.4f}, "
                f"recall {evaluation.recall:.4f}, F1 {evaluation.f1:.4f}."
            )
        )
