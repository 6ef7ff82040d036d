"""Forms of the labelling pages: queues, settling a conflict, uploading reviews, snapshotting labels."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from apps.common.roles import ANALYST, ML_ADMIN
from apps.labelling.choices import QueueStrategy
from apps.labelling.models import LabellingQueue
from apps.labelling.resolutions import REASON_MAX_LENGTH
from apps.labelling.services import MAX_OVERLAP, queue_errors
from apps.reviews.uploads import FORMATS
from apps.reviews.choices import LabelSource
from apps.reviews.models import DatasetSnapshot, ImportJob
from apps.reviews.snapshots import MAX_SEED


def analysts() -> QuerySet[Any]:
    """Active users who may label: analysts, ML admins and superusers."""
    return (
        get_user_model()
        .objects.filter(Q(groups__name__in=[ANALYST, ML_ADMIN]) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("username")
    )


class AnalystChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.get_username())


class ImportChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.source} ({obj.rows_created:,} new reviews)"


def model_choices(form: forms.BaseForm, name: str) -> forms.ModelChoiceField:
    """The form's field ``name``, one that chooses among rows (its queryset is set when the form is made)."""
    field = form.fields[name]
    assert isinstance(field, forms.ModelChoiceField)  # declared, or made from a foreign key, as one
    return field


class QueueForm(forms.ModelForm):
    """A new queue: its pool (and the snapshot split or import it names), strategy, overlap and analysts."""

    annotators = AnalystChoiceField(
        queryset=analysts(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The analysts who work this queue.",
    )

    class Meta:
        model = LabellingQueue
        fields = ["name", "pool", "pool_snapshot", "pool_split", "pool_import", "strategy", "overlap", "annotators"]
        labels = {
            "pool_snapshot": "Snapshot",
            "pool_split": "Split",
            "pool_import": "Import",
            "overlap": "Analysts per review",
        }
        field_classes = {"pool_import": ImportChoiceField}
        help_texts = {
            "pool": "Which reviews the queue holds. A snapshot's split needs the snapshot and split; "
            "an import, the import.",
            "strategy": "Random; most uncertain first (the current model's batch predictions); or suspicious: "
            "labels the model contradicts, most confident first.",
            "overlap": f"How many analysts label each review (1 to {MAX_OVERLAP}); more than one measures agreement.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_choices(self, "annotators").queryset = analysts()
        model_choices(self, "pool_snapshot").queryset = DatasetSnapshot.objects.order_by("-created_at")
        model_choices(self, "pool_import").queryset = ImportJob.objects.filter(status="succeeded").order_by("-created_at")
        self.fields["overlap"].widget.attrs.update(min=1, max=MAX_OVERLAP)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # ModelForm.clean gives back cleaned_data
        if self.errors:
            return cleaned
        errors = queue_errors(
            name=cleaned.get("name", ""),
            pool=cleaned.get("pool", ""),
            strategy=cleaned.get("strategy", ""),
            overlap=cleaned.get("overlap"),
            annotators=cleaned.get("annotators", []),
            pool_snapshot=cleaned.get("pool_snapshot"),
            pool_split=cleaned.get("pool_split", ""),
            pool_import=cleaned.get("pool_import"),
            queue=self.instance if self.instance.pk else None,
        )
        for name, message in errors.items():
            self.add_error(name if name in self.fields else None, message)
        return cleaned


class QueueEditForm(forms.Form):
    """What may change once a queue exists: not its pool."""

    name = forms.CharField(max_length=200)
    strategy = forms.ChoiceField(choices=QueueStrategy.choices)
    overlap = forms.IntegerField(min_value=1, max_value=MAX_OVERLAP, label="Analysts per review")
    annotators = AnalystChoiceField(queryset=analysts(), required=False, widget=forms.CheckboxSelectMultiple)
    is_active = forms.BooleanField(required=False, label="Active (analysts can work it)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_choices(self, "annotators").queryset = analysts()


class SettleForm(forms.Form):
    label = forms.ChoiceField(choices=[("negative", "Negative"), ("positive", "Positive")], widget=forms.RadioSelect)
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "Why this label", "size": 40}),
        error_messages={"required": "Say why you settle the review this way; the reason is kept with the label."},
    )


class UploadForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text="CSV with a review (or text) column, JSON Lines with text, or plain text with one review per line; "
        "UTF-8.",
        error_messages={"required": "Choose a file to upload.", "empty": "The file is empty: it holds no reviews."},
    )
    file_format = forms.ChoiceField(
        label="Format",
        required=False,
        choices=[("", "From the file's extension"), *FORMATS.items()],
    )
    source_name = forms.CharField(
        label="Source name",
        required=False,
        max_length=64,
        help_text="Stored with each review; ids are unique per source. Default: the file's name.",
    )
    create_queue = forms.BooleanField(required=False, label="Make a queue of these reviews (random order, for me)")


class LabelSnapshotForm(forms.Form):
    label_source = forms.ChoiceField(
        label="Labels",
        choices=[(source.value, source.label) for source in (LabelSource.HUMAN, LabelSource.GOLD_AND_HUMAN)],
        initial=LabelSource.GOLD_AND_HUMAN.value,
        widget=forms.RadioSelect,
    )
    name = forms.CharField(required=False, max_length=200, help_text="Default: the label source, seed and size.")
    seed = forms.IntegerField(min_value=0, max_value=MAX_SEED, initial=42)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
