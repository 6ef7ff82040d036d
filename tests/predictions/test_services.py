"""prediction_create_many: validation and what is stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.predictions.services import PredictionInputError, prediction_create_many
from apps.reviews.models import Review
from tests.predictions.conftest import NEGATIVE_REVIEW, POSITIVE_REVIEW, MakeVersion

pytestmark = pytest.mark.django_db


def test_every_prediction_is_stored_with_its_text_version_label_probabilities_source_user_and_latency(
    make_version: MakeVersion, analyst: User
) -> None:
    version = make_version(current=True)

    predictions = prediction_create_many(
        texts=[f"  {POSITIVE_REVIEW}\n", NEGATIVE_REVIEW], source=PredictionSource.API, user=analyst
    )

    stored = list(Prediction.objects.order_by("pk"))
    assert [p.pk for p in predictions] == [p.pk for p in stored]
    assert [p.text for p in stored] == [POSITIVE_REVIEW, NEGATIVE_REVIEW]
    assert [p.label for p in stored] == [1, 0]
    for prediction in stored:
        assert prediction.model_version_id == version.pk
        assert prediction.source == PredictionSource.API
        assert prediction.user == analyst
        assert prediction.prob_negative + prediction.prob_positive == pytest.approx(1.0)
        assert prediction.confidence == max(prediction.prob_negative, prediction.prob_positive)
        assert prediction.latency_ms is not None and prediction.latency_ms > 0
        assert prediction.review is None
    assert predictions[0].served_version.pk == version.pk


def test_predictions_can_be_tied_to_the_reviews_they_came_from(make_version: MakeVersion) -> None:
    make_version(current=True)
    review = Review.objects.create(text=POSITIVE_REVIEW, source="test", external_id="1")

    prediction_create_many(texts=[POSITIVE_REVIEW, NEGATIVE_REVIEW], source=PredictionSource.BATCH, reviews=[review, None])

    assert list(Prediction.objects.order_by("pk").values_list("review", flat=True)) == [review.pk, None]


@pytest.mark.parametrize(
    ("texts", "field", "message"),
    [
        ([], "texts", "Send at least one review"),
        (["   \n\t "], "texts[0]", "The review is empty"),
        ([POSITIVE_REVIEW, ""], "texts[1]", "The review is empty"),
        (["x" * 20_001], "texts[0]", "20,001 characters long; the limit is 20,000"),
        ([POSITIVE_REVIEW] * 65, "texts", "at most 64 reviews per request (got 65)"),
        ([POSITIVE_REVIEW, 3], "texts[1]", "must be a string of text (got int)"),
    ],
)
def test_bad_input_is_refused_with_a_message_per_problem_and_nothing_is_stored(
    make_version: MakeVersion, texts: list[Any], field: str, message: str
) -> None:
    make_version(current=True)

    with pytest.raises(PredictionInputError) as raised:
        prediction_create_many(texts=texts, source=PredictionSource.FORM)

    assert list(raised.value.errors) == [field]
    assert message in raised.value.errors[field]
    assert not Prediction.objects.exists()


def test_the_limits_come_from_settings(make_version: MakeVersion, settings: Any) -> None:
    make_version(current=True)
    settings.PREDICTION_MAX_CHARS = 10
    settings.PREDICTION_MAX_BATCH = 1

    with pytest.raises(PredictionInputError) as raised:
        prediction_create_many(texts=["eleven char"], source=PredictionSource.FORM)
    assert "the limit is 10" in raised.value.errors["texts[0]"]
    with pytest.raises(PredictionInputError, match="at most 1 reviews"):
        prediction_create_many(texts=["a", "b"], source=PredictionSource.FORM)


def test_a_review_at_the_limit_is_accepted(make_version: MakeVersion) -> None:
    make_version(current=True)

    [prediction] = prediction_create_many(texts=["good " * 4_000], source=PredictionSource.FORM)

    assert len(prediction.text) == 19_999
