"""Forms that start training and evaluation runs (the admin, the pages and the commands share them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

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
    from django.contrib.auth.models import AbstractBaseUser

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

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
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

    def create(self, *, created_by: AbstractBaseUser | None = None, enqueue: bool = True) -> TrainingRun:
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
    """A model version and where to evaluate it: a split of a snapshot, or the human-labelled reviews."""

    class Meta:
        model = EvaluationRun
        fields = ["model_version", "snapshot", "split"]
        help_texts = {
            "snapshot": "Empty: the snapshot the version was trained on. Not used for the human-labelled split.",
        }
        error_messages = {"snapshot": {"invalid_choice": NO_SNAPSHOT}}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "model_version" in self.errors or "split" in self.errors:
            return cleaned
        errors = evaluation_run_errors(
            model_version=cleaned.get("model_version"), snapshot=cleaned.get("snapshot"), split=cleaned.get("split", "")
        )
        for field, message in errors.items():
            if field not in self.errors:
                self.add_error(field if field in self.fields else None, message)
        return cleaned

    def save(self, commit: bool = True) -> EvaluationRun:
        return self.create() if commit else super().save(commit=False)

    def create(self, *, created_by: AbstractBaseUser | None = None, enqueue: bool = True) -> EvaluationRun:
        """Create the evaluation through ``evaluation_run_create``, queued unless ``enqueue`` is False."""
        data = self.cleaned_data
        return evaluation_run_create(
            model_version=data["model_version"],
            snapshot=data.get("snapshot"),
            split=data["split"],
            created_by=created_by,
            enqueue=enqueue,
        )
