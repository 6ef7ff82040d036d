"""The dashboard's filter forms (GET) and the promotion and rollback forms (POST)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict, cast

from django import forms

from apps.common.choices import JobStatus
from apps.registry.models import ModelVersion
from apps.reviews.choices import OriginSplit, Split
from apps.reviews.models import DatasetSnapshot
from apps.reviews.selectors import NO_LABEL, Disagreement, ReviewFilters
from apps.training.choices import TRAINED_KINDS

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

ANY: list[tuple[str, str | StrPromise]] = [("", "any")]
LABEL_CHOICES = [("", "any"), ("0", "negative"), ("1", "positive"), (NO_LABEL, "none")]
PREDICTED_CHOICES = [("", "any"), ("0", "negative"), ("1", "positive")]
RUN_ORDER_CHOICES = [("newest", "newest first"), ("oldest", "oldest first"), ("f1", "best test F1"), ("-f1", "worst test F1")]


class RunFilters(TypedDict):
    """``training_run_search``'s keyword arguments."""

    status: str | None
    kind: str | None
    base_model: str | None
    order: str


class RunFilterForm(forms.Form):
    status = forms.ChoiceField(choices=ANY + list(JobStatus.choices), required=False)
    kind = forms.ChoiceField(choices=ANY + TRAINED_KINDS, required=False)
    base_model = forms.ChoiceField(label="Base model", choices=ANY, required=False)
    order = forms.ChoiceField(label="Sort", choices=RUN_ORDER_CHOICES, required=False)

    def __init__(self, *args: Any, base_models: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["base_model"]).choices = ANY + [(name, name) for name in base_models]

    def filters(self) -> RunFilters:
        """The valid filters as keyword arguments of ``training_run_search``; a bad value counts as "any"."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "status": data.get("status") or None,
            "kind": data.get("kind") or None,
            "base_model": data.get("base_model") or None,
            "order": data.get("order") or "newest",
        }


class ReviewFilterForm(forms.Form):
    """The review browser's filters; the model's filters are about ``model``, the current version by default."""

    q = forms.CharField(label="Text", required=False, max_length=200, widget=forms.TextInput(attrs={"type": "search", "placeholder": "words in the review"}))
    split = forms.ChoiceField(label="Origin split", choices=ANY + [(value or "-", label) for value, label in OriginSplit.choices], required=False)
    snapshot = forms.ModelChoiceField(queryset=DatasetSnapshot.objects.order_by("-created_at"), required=False, empty_label="any")
    snapshot_split = forms.ChoiceField(label="Snapshot split", choices=ANY + list(Split.choices), required=False)
    gold = forms.ChoiceField(label="Gold label", choices=LABEL_CHOICES, required=False)
    human = forms.ChoiceField(label="Human label", choices=LABEL_CHOICES, required=False)
    model = forms.ModelChoiceField(label="Model version", queryset=ModelVersion.objects.order_by("-created_at"), required=False, empty_label="the current one")
    predicted = forms.ChoiceField(label="Predicted", choices=PREDICTED_CHOICES, required=False)
    min_confidence = forms.FloatField(label="Confidence from", required=False, min_value=0, max_value=1, widget=forms.NumberInput(attrs={"step": "0.05"}))
    max_confidence = forms.FloatField(label="to", required=False, min_value=0, max_value=1, widget=forms.NumberInput(attrs={"step": "0.05"}))
    disagreement = forms.ChoiceField(choices=ANY + list(Disagreement.choices), required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None, "Form.clean returns cleaned_data"
        low, high = cleaned.get("min_confidence"), cleaned.get("max_confidence")
        if low is not None and high is not None and low > high:
            self.add_error("max_confidence", f"The range is empty: {low} is above {high}. Swap the two numbers.")
        return cleaned

    def filters(self, *, current_version_id: int | None) -> ReviewFilters:
        """The valid fields as ``ReviewFilters``; an invalid field is left out (and shown with its error)."""
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        split = data.get("split") or None
        model = data.get("model")
        return ReviewFilters(
            text=data.get("q") or "",
            origin_split="" if split == "-" else split,
            snapshot_id=data["snapshot"].pk if data.get("snapshot") else None,
            snapshot_split=data.get("snapshot_split") or None,
            gold_label=_label(data.get("gold")),
            human_label=_label(data.get("human")),
            model_version_id=model.pk if model else current_version_id,
            predicted_label=int(data["predicted"]) if data.get("predicted") else None,
            min_confidence=data.get("min_confidence"),
            max_confidence=data.get("max_confidence"),
            disagreement=data.get("disagreement") or None,
        )


def _label(value: str | None) -> Any:
    if not value:
        return None
    return NO_LABEL if value == NO_LABEL else int(value)


class PromoteForm(forms.Form):
    reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why this version should serve predictions"})
    )
    force = forms.BooleanField(
        required=False,
        label="Force (promote even if its test accuracy is below the current version's; needs a reason)",
    )


class RollbackForm(forms.Form):
    reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why the current version is being rolled back"})
    )
