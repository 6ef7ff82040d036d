"""Forms that start training and evaluation runs (the admin, the pages and the commands share them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import transaction

from apps.common.choices import JobStatus
from apps.reviews.models import ImportJob
from apps.training.choices import EvaluationSplit
from apps.training.evaluation_data import (
    EvaluationDataError,
    evaluation_dataset_store,
    read_evaluation_file,
)
from apps.training.models import EvaluationRun, TrainingRun
from apps.training.services import (
    HYPERPARAMETERS,
    evaluation_run_create,
    evaluation_run_errors,
    training_run_create,
    training_run_errors,
)
from workers.ml.config import TrainConfig

if TYPE_CHECKING:
    from django.contrib.auth.models import User

NO_SNAPSHOT = "There is no such snapshot: pick one from the list (or take a snapshot of the labelled reviews first)."


class TrainingRunForm(forms.ModelForm):
    """Snapshot, model kind, base model and hyperparameters; each bad field gets its own message.

    The hyperparameters are checked by ``TrainConfig.errors()``, the rules the trainer itself applies,
    so the form never accepts what a worker would refuse. ``save()`` creates the run through
    ``training_run_create``, which queues it.
    """

    class Meta:
        model = TrainingRun
        fields = ["snapshot", *HYPERPARAMETERS, "notes"]
        help_texts = {
            "base_model": "A Hugging Face hub id, or a folder on the workers holding a model and tokenizer "
            "saved with save_pretrained. Ignored by the TF-IDF kind.",
            "subset_size": "Train on this many reviews of the training split only (a quick trial); empty for all.",
            "eval_subset_size": "Score only this many validation and test reviews (a quick trial; its test metrics "
            "then describe that sample); empty scores the whole splits.",
            "early_stopping_patience": "Stop after this many epochs without a lower validation loss; empty never stops early.",
            "mlm_steps": "Domain adaptation: continue pre-training the base model with masked-language modelling for "
            "this many steps on the unlabelled reviews before fine-tuning; 0 or empty: off. Transformer kind only.",
        }
        error_messages = {"snapshot": {"invalid_choice": NO_SNAPSHOT}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The column types' own bounds ("greater than or equal to 0") would say less than TrainConfig does.
        for name in HYPERPARAMETERS:
            field = self.fields[name]
            field.validators = [
                v for v in field.validators if not isinstance(v, (MinValueValidator, MaxValueValidator))
            ]
            for attribute in ("min", "max"):
                field.widget.attrs.pop(attribute, None)
        defaults = TrainConfig()
        for name in HYPERPARAMETERS:
            self.fields[name].initial = getattr(defaults, name)
        # Off unless asked for: forms and scripts written before domain adaptation leave it out.
        self.fields["mlm_steps"].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # ModelForm.clean() returns cleaned_data
        if "mlm_steps" in cleaned and cleaned["mlm_steps"] is None:
            cleaned["mlm_steps"] = 0
        given = {name: cleaned[name] for name in HYPERPARAMETERS if name in cleaned}
        if given.get("base_model") is not None:
            given["base_model"] = given["base_model"].strip()
        for field, message in training_run_errors(snapshot=cleaned.get("snapshot"), **given).items():
            if field not in self.errors:
                self.add_error(field if field in self.fields else None, message)
        return cleaned

    def save(self, commit: bool = True) -> TrainingRun:
        # A plain ModelForm save would store a run that no worker ever hears of.
        return self.create() if commit else super().save(commit=False)

    def create(self, *, created_by: User | None = None, enqueue: bool = True) -> TrainingRun:
        """Create the run through ``training_run_create``, queued unless ``enqueue`` is False."""
        data = self.cleaned_data
        return training_run_create(
            snapshot=data["snapshot"],
            created_by=created_by,
            notes=data.get("notes", ""),
            enqueue=enqueue,
            **{name: data[name] for name in HYPERPARAMETERS},
        )


class EvaluationRunForm(forms.ModelForm):
    """A model version and what to evaluate it on: a snapshot split, the human labels, an import, or a labelled file.

    With split "file", either an earlier upload (``dataset``) or a new ``file``: ``create()`` stores the
    file and queues the evaluation in one transaction, and returns None with the file's error on the form
    when the file is refused (nothing is stored then).
    """

    file = forms.FileField(
        required=False,
        label="Labelled file",
        help_text="With split “An uploaded labelled file”: CSV (review or text, sentiment or label, optional id) or "
        "JSON Lines (text, label, optional id and rating). Its reviews are kept as their own source, out of training data.",
    )
    dataset_name = forms.CharField(required=False, max_length=200, label="File name to show", help_text="Default: the file's name.")

    class Meta:
        model = EvaluationRun
        fields = ["model_version", "split", "snapshot", "review_import", "dataset"]
        labels = {"split": "Evaluate on", "review_import": "Import", "dataset": "Earlier uploaded file"}
        help_texts = {
            "snapshot": "With a snapshot split. Empty: the snapshot the version was trained on.",
            "review_import": "With “Labelled reviews of an import”: the reviews that import added that have a label.",
            "dataset": "With “An uploaded labelled file”, instead of uploading one.",
        }
        error_messages = {"snapshot": {"invalid_choice": NO_SNAPSHOT}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        imports = cast(forms.ModelChoiceField, self.fields["review_import"])
        imports.queryset = ImportJob.objects.filter(status=JobStatus.SUCCEEDED).order_by("-created_at")
        imports.label_from_instance = lambda job: f"Import {job.pk}: {job.source_name} ({job.rows_created:,} new reviews)"  # type: ignore[method-assign,assignment]  # a per-field label function replaces the method

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # ModelForm.clean() returns cleaned_data
        if "model_version" in self.errors or "split" in self.errors:
            return cleaned
        dataset = cleaned.get("dataset")
        uploading = cleaned.get("split") == EvaluationSplit.FILE and cleaned.get("file") and dataset is None
        errors = evaluation_run_errors(
            model_version=cleaned.get("model_version"),
            snapshot=cleaned.get("snapshot"),
            split=cleaned.get("split", ""),
            review_import=cleaned.get("review_import"),
            dataset=dataset,
        )
        if uploading:
            errors.pop("dataset", None)
            try:
                self.evaluation_file = read_evaluation_file(cleaned["file"])
            except EvaluationDataError as error:
                errors["file"] = str(error)
        elif cleaned.get("file") and cleaned.get("split") != EvaluationSplit.FILE:
            errors["file"] = "A file is evaluated with “An uploaded labelled file”: choose that, or leave the file out."
        for field, message in errors.items():
            if field not in self.errors:
                self.add_error(field if field in self.fields else None, message)
        return cleaned

    def save(self, commit: bool = True) -> EvaluationRun:
        if not commit:
            return super().save(commit=False)
        evaluation = self.create()
        if evaluation is None:
            raise ValueError(f"The file was refused: {self.errors['file']}")
        return evaluation

    def create(self, *, created_by: User | None = None, enqueue: bool = True) -> EvaluationRun | None:
        """Queue the evaluation through ``evaluation_run_create`` (storing a new file first); None if the file is refused."""
        data = self.cleaned_data
        try:
            with transaction.atomic():
                dataset = data.get("dataset")
                if data["split"] == EvaluationSplit.FILE and dataset is None:
                    dataset = evaluation_dataset_store(
                        self.evaluation_file, name=data.get("dataset_name"), created_by=created_by
                    )
                return evaluation_run_create(
                    model_version=data["model_version"],
                    snapshot=data.get("snapshot"),
                    split=data["split"],
                    review_import=data.get("review_import"),
                    dataset=dataset,
                    created_by=created_by,
                    enqueue=enqueue,
                )
        except EvaluationDataError as error:
            self.add_error("file", str(error))
            return None
