"""``manage.py train``: start a training run through the queue (and follow it), or in this process."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from apps.common.choices import JobStatus
from apps.common.models import Job
from apps.training.forms import TrainingRunForm
from apps.training.jobs import QUEUE_BY_KIND
from apps.training.models import TrainingRun
from apps.training.runners import training_run_execute
from apps.training.services import HYPERPARAMETERS
from workers.ml.config import TrainConfig

POLL_SECONDS = 1.0
EPOCH_COLUMNS = {
    "train_loss": "train loss",
    "validation_loss": "validation loss",
    "validation_accuracy": "validation accuracy",
    "validation_f1": "validation F1",
}
OPTIONS = {
    "kind": (["--kind"], "transformer (default) or tfidf."),
    "base_model": (["--base-model"], "Hugging Face hub id, or a folder holding a model saved with save_pretrained."),
    "learning_rate": (["--lr", "--learning-rate"], "Learning rate (default 2e-5)."),
    "batch_size": (["--batch-size"], "Batch size (default 16)."),
    "epochs": (["--epochs"], "Epochs (default 2)."),
    "weight_decay": (["--weight-decay"], "Weight decay (default 0.01)."),
    "max_length": (["--max-length"], "Tokens kept per review (default 256)."),
    "truncation": (["--truncation"], "head (default) or head_tail."),
    "seed": (["--seed"], "Random seed (default 42)."),
    "subset_size": (["--subset-size"], "Train on this many reviews of the training split only."),
    "eval_subset_size": (
        ["--eval-subset-size"],
        "Score only this many validation and test reviews (a quick trial whose test metrics describe that sample).",
    ),
    "early_stopping_patience": (
        ["--early-stopping-patience"],
        "Stop after this many epochs without a lower validation loss.",
    ),
    "warmup_ratio": (["--warmup-ratio"], "Share of steps spent warming the learning rate up (default 0)."),
    "mlm_steps": (
        ["--mlm-steps"],
        "Domain adaptation: masked-language-modelling steps on the unlabelled reviews before fine-tuning (default 0: off).",
    ),
    "mlm_reviews": (["--mlm-reviews"], "Domain adaptation: read at most this many unlabelled reviews."),
    "tfidf_ngram_max": (["--ngram-max"], "TF-IDF: longest word n-gram (default 3)."),
    "tfidf_min_df": (["--min-df"], "TF-IDF: keep n-grams found in at least this many training reviews (default 2)."),
    "tfidf_c": (["--c"], "TF-IDF: C of the logistic regression (default 16; 'auto' chooses it on validation)."),
}


class Command(BaseCommand):
    help = (
        "Train a model on a dataset snapshot. By default the run goes through the Celery queue (gpu for "
        "transformers, default for tfidf) and this command follows its progress until it ends; --no-wait "
        "only queues it, --now trains in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--snapshot", required=True, metavar="ID", help="The dataset snapshot to train on.")
        for name, (flags, help_text) in OPTIONS.items():
            parser.add_argument(*flags, dest=name, metavar="VALUE", help=help_text)
        parser.add_argument(
            "--lowercase", action=argparse.BooleanOptionalAction, default=None, help="Lowercase reviews (default: yes)."
        )
        parser.add_argument(
            "--nb-weighting",
            dest="tfidf_nb_weighting",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="TF-IDF: naive-Bayes weighting of the n-grams (default: yes); --no-nb-weighting uses idf.",
        )
        parser.add_argument("--notes", default="", help="Free text stored with the run.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--now", action="store_true", help="Train in this process instead of on a worker.")
        mode.add_argument("--no-wait", action="store_true", help="Queue the run and return at once.")

    verbosity = 1

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        defaults = TrainConfig()
        data: dict[str, Any] = {name: getattr(defaults, name) for name in HYPERPARAMETERS}
        data.update(
            {name: options[name] for name in [*OPTIONS, "lowercase", "tfidf_nb_weighting"] if options.get(name) is not None}
        )
        if data.get("tfidf_c") == "auto":
            data["tfidf_c"] = None
        data.update(snapshot=options["snapshot"], notes=options["notes"])
        form = TrainingRunForm(data={name: "" if value is None else value for name, value in data.items()})
        if not form.is_valid():
            raise CommandError(form_errors_message(form, "The training run was not started"))

        if options["now"]:
            run = form.create(enqueue=False)
            self.stdout.write(f"Training run {run.pk} ({run.kind}) in this process ...")
            with _ProgressBar(self) as bar:
                training_run_execute(run_id=run.pk, on_progress=bar.update)
        else:
            run = form.create()
            self.stdout.write(f"Queued training run {run.pk} on the {QUEUE_BY_KIND[run.kind]} queue.")
            if options["no_wait"]:
                return
            follow(self, TrainingRun, run.pk, describe=_describe_training)
        self.report(TrainingRun.objects.get(pk=run.pk))

    def report(self, run: TrainingRun) -> None:
        if run.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Training run {run.pk} {run.status}" + (f": {run.error}" if run.error else "."))
        version = run.model_version
        self.stdout.write(
            self.style.SUCCESS(
                f"Training run {run.pk} succeeded on {run.device}: test accuracy {run.accuracy:.4f}, precision "
                f"{run.precision:.4f}, recall {run.recall:.4f}, F1 {run.f1:.4f}. Model version {version.pk}."
            )
        )


def form_errors_message(form: forms.BaseForm, what: str) -> str:
    """Every field's message, one a line, with the option name a person typed."""
    lines = [f"{what}:"]
    for field, messages in form.errors.items():
        option = "" if field == "__all__" else f"--{field.replace('_', '-')}: "
        lines.extend(f"  {option}{message}" for message in messages)
    return "\n".join(lines)


def follow(command: BaseCommand, model: type[Job], pk: int, *, describe: Callable[[Any], tuple[int, int, str]]) -> None:
    """Poll a queued run until it ends, drawing its progress; Ctrl-C stops following, not the run."""
    seen_lines = 0
    try:
        with tqdm(total=0, unit="step", file=command.stderr._out, disable=None) as bar:
            while True:
                job = model.objects.get(pk=pk)
                done, total, lines = describe(job)
                bar.total, bar.n = total, done
                bar.set_description(job.status)
                for line in lines.splitlines()[seen_lines:]:
                    bar.write(line, file=command.stdout._out)
                seen_lines = len(lines.splitlines())
                if job.is_finished:
                    return
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        raise CommandError(
            f"Stopped following {model._meta.verbose_name} {pk}; it goes on on its worker. "
            "Cancel it from the admin if it should stop."
        ) from None


def _describe_training(run: TrainingRun) -> tuple[int, int, str]:
    epochs = "\n".join(_epoch_line(metric.epoch, metric.__dict__) for metric in run.epoch_metrics.order_by("epoch"))
    return run.current_step, run.total_steps, epochs


def _epoch_line(epoch: Any, values: dict[str, Any]) -> str:
    measured = [f"{label} {values[key]:.4f}" for key, label in EPOCH_COLUMNS.items() if values.get(key) is not None]
    return ", ".join([f"epoch {epoch}", *measured])


class _ProgressBar:
    """Draws ``training_run_execute``'s progress events as a tqdm bar, epochs as lines above it."""

    def __init__(self, command: Command) -> None:
        self.command = command
        # The raw stream: tqdm redraws with carriage returns, which OutputWrapper would end with newlines.
        self.bar = tqdm(total=0, unit="step", file=command.stderr._out, disable=None)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def update(self, event: dict[str, Any]) -> None:
        if event.get("type") == "step":
            self.bar.total = int(event.get("total_steps") or 0)
            self.bar.n = int(event.get("step") or 0)
            self.bar.refresh()
        elif event.get("type") == "epoch":
            self.bar.write(_epoch_line(event.get("epoch"), event), file=self.command.stdout._out)
        elif event.get("type") == "log" and self.command.verbosity >= 2:
            self.bar.write(str(event.get("text", "")).rstrip(), file=self.command.stdout._out)
