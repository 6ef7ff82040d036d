from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import MaxLengthValidator

from apps.predictions.services import prediction_max_chars


class PredictForm(forms.Form):
    text = forms.CharField(
        label="Review",
        widget=forms.Textarea(attrs={"rows": 8, "placeholder": "Type or paste a movie review"}),
        error_messages={"required": "The review is empty: type or paste the text of a review."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The limit is a setting, read when the form is made rather than when the module is imported.
        limit = prediction_max_chars()
        field = self.fields["text"]
        field.validators = [
            MaxLengthValidator(
                limit,
                message=f"The review is %(show_value)s characters long; the limit is {limit:,}. Paste a shorter excerpt.",
            )
        ]
        # No ``maxlength`` on the textarea: the browser would cut a long paste without a word and the model
        # would answer about a text the person never sent. The validator above says it is too long instead.
        field.help_text = f"Up to {limit:,} characters."
        field.widget.attrs["aria-describedby"] = "review-limit"
