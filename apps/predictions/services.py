"""Predicting reviews with the current model and storing every prediction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.predictions.serving import predictor

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from apps.reviews.models import Review


def prediction_max_chars() -> int:
    """Longest review accepted, in characters (``PREDICTION_MAX_CHARS``)."""
    return int(settings.PREDICTION_MAX_CHARS)


def prediction_max_batch() -> int:
    """Most reviews in one request (``PREDICTION_MAX_BATCH``)."""
    return int(settings.PREDICTION_MAX_BATCH)


class PredictionInputError(ValueError):
    """Reviews that cannot be predicted; ``errors`` maps each problem's place ("texts", "texts[2]") to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(f"{field}: {message}" for field, message in self.errors.items()))


def prediction_input_errors(*, texts: Sequence[Any], field: str = "texts") -> dict[str, str]:
    """One message per problem with `texts` (empty when they can be predicted)."""
    limit = prediction_max_batch()
    if not texts:
        return {field: "Send at least one review to predict."}
    if len(texts) > limit:
        return {field: f"Send at most {limit} reviews per request (got {len(texts)}); split them into smaller requests."}
    longest = prediction_max_chars()
    errors: dict[str, str] = {}
    for index, text in enumerate(texts):
        place = f"{field}[{index}]"
        if not isinstance(text, str):
            errors[place] = f"Each review must be a string of text (got {type(text).__name__})."
        elif not text.strip():
            errors[place] = "The review is empty: type or paste the text of a review."
        elif len(text.strip()) > longest:
            errors[place] = (
                f"The review is {len(text.strip()):,} characters long; the limit is {longest:,}. Send a shorter excerpt."
            )
    return errors


def prediction_create_many(
    *,
    texts: list[str],
    source: PredictionSource | str,
    user: User | None = None,
    reviews: Sequence[Review | None] | None = None,
) -> list[Prediction]:
    """Predict `texts` with the current model version and store one Prediction per text, in order.

    Texts are stored stripped of surrounding whitespace. ``reviews``, when given, pairs each text with the
    review it came from. Each prediction's ``model_version`` is the version that answered it (the current
    one, or its TF-IDF screen), and ``latency_ms`` the time the model took to answer the whole call; each
    also carries ``served_version``, the version that was current for the call, and ``members``, an
    ensemble's members with their own p(positive) (empty for other kinds); neither is a database field.
    Raises PredictionInputError for bad input (nothing is predicted or stored then),
    ``apps.predictions.serving.NoCurrentModel`` before any version is current, and ``ModelUnavailable``
    when the current version's files cannot be loaded.
    """
    errors = prediction_input_errors(texts=texts)
    if reviews is not None and len(reviews) != len(texts):
        errors["reviews"] = f"Got {len(reviews)} reviews for {len(texts)} texts; pass one review (or None) per text."
    if errors:
        raise PredictionInputError(errors)
    cleaned = [text.strip() for text in texts]
    batch = predictor.predict(cleaned)
    paired = reviews if reviews is not None else [None] * len(cleaned)
    versions = {version.pk: version for version in (batch.model_version, batch.screen_version) if version is not None}
    predictions = [
        Prediction(
            text=text,
            review=review,
            model_version=versions[answer.model_version_id],
            label=answer.label,
            confidence=answer.confidence,
            prob_negative=answer.prob_negative,
            prob_positive=answer.prob_positive,
            source=source,
            user=user,
            latency_ms=batch.elapsed_ms,
        )
        for text, review, answer in zip(cleaned, paired, batch.answers)
    ]
    if len(predictions) == 1:
        # One INSERT in autocommit: bulk_create would wrap it in a transaction, two more database round trips.
        predictions[0].save(force_insert=True)
    else:
        predictions = Prediction.objects.bulk_create(predictions)
    for prediction, answer in zip(predictions, batch.answers):
        prediction.served_version = batch.model_version
        prediction.members = list(answer.members)
    return predictions
