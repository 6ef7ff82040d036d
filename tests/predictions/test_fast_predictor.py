"""workers.ml.inference's shortcuts give the answers the plain computation gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.predictions.conftest import NEGATIVE_REVIEW, POSITIVE_REVIEW
from workers.ml.inference import ScreenedModel, load_model

MIXED_LENGTHS = [
    POSITIVE_REVIEW,
    "bad",
    NEGATIVE_REVIEW + " " + POSITIVE_REVIEW,
    "the acting was superb",
    "<br />Awful.<br /><br />Truly awful.",
]


def test_batched_reviews_of_mixed_lengths_get_the_probabilities_each_gets_alone(transformer_folder: Path) -> None:
    model = load_model(transformer_folder, device="cpu")

    together = model.probabilities(MIXED_LENGTHS, 32)
    alone = np.vstack([model.probabilities([text], 1) for text in MIXED_LENGTHS])

    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_the_transformer_gives_the_training_code_s_probabilities(transformer_folder: Path) -> None:
    import torch

    from workers.ml.encoding import encode_texts, predict_probabilities

    model = load_model(transformer_folder, device="cpu")
    manifest = model.manifest
    ids = encode_texts(
        model.tokenizer,  # type: ignore[attr-defined]
        MIXED_LENGTHS,
        max_length=manifest["max_length"],
        truncation=manifest["truncation"],
        lowercase=manifest["lowercase"],
    )
    expected = predict_probabilities(
        model.model, model.tokenizer, ids, batch_size=32, device=torch.device("cpu")  # type: ignore[attr-defined]
    )

    np.testing.assert_allclose(model.probabilities(MIXED_LENGTHS, 32), expected, atol=1e-5)


def test_a_text_seen_before_is_answered_from_the_cache(tfidf_folder: Path, monkeypatch: Any) -> None:
    model = load_model(tfidf_folder, cache_size=2)
    computed: list[list[str]] = []
    real = model.probabilities
    monkeypatch.setattr(model, "probabilities", lambda texts, batch_size: computed.append(list(texts)) or real(texts, batch_size))

    first = model.predict([POSITIVE_REVIEW, POSITIVE_REVIEW, NEGATIVE_REVIEW])
    again = model.predict([NEGATIVE_REVIEW, POSITIVE_REVIEW])
    model.predict(["a third text", "a fourth text"])
    model.predict([POSITIVE_REVIEW])

    assert first[0] == first[1] == again[1] and first[2] == again[0]
    # Repeats within a call are computed once; the cache holds two texts, so the oldest were evicted.
    assert computed == [[POSITIVE_REVIEW, NEGATIVE_REVIEW], ["a third text", "a fourth text"], [POSITIVE_REVIEW]]


def test_without_a_cache_every_text_is_computed(tfidf_folder: Path) -> None:
    model = load_model(tfidf_folder)

    assert model.cache is None
    assert model.predict([POSITIVE_REVIEW]) == model.predict([POSITIVE_REVIEW])


def test_the_screen_answers_what_it_is_sure_of_and_the_model_the_rest(
    tfidf_folder: Path, transformer_folder: Path
) -> None:
    screen = load_model(tfidf_folder)
    model = load_model(transformer_folder, device="cpu")
    texts = [POSITIVE_REVIEW, "a film", NEGATIVE_REVIEW]
    screen_rows = screen.probabilities(texts, 32)
    threshold = float(np.sort(screen_rows.max(axis=1))[1])

    answers = ScreenedModel(model, screen, threshold).predict(texts)

    sure = screen_rows.max(axis=1) >= threshold
    assert [answer["screened"] for answer in answers] == sure.tolist()
    for text, answer, by_screen in zip(texts, answers, sure):
        expected = (screen if by_screen else model).predict([text])[0]
        assert {key: answer[key] for key in expected} == expected


@pytest.mark.parametrize("threshold", [0.5, 0.2, 1.5])
def test_a_screen_threshold_outside_one_half_to_one_is_refused(tfidf_folder: Path, threshold: float) -> None:
    screen = load_model(tfidf_folder)

    with pytest.raises(ValueError, match="above 0.5 and at most 1"):
        ScreenedModel(screen, screen, threshold)


def test_the_int8_encoder_gives_nearly_the_float_probabilities(transformer_folder: Path) -> None:
    exact = load_model(transformer_folder, device="cpu")
    quantized = load_model(transformer_folder, device="cpu", quantize=True)

    assert quantized.quantized and not exact.quantized  # type: ignore[attr-defined]
    np.testing.assert_allclose(quantized.probabilities(MIXED_LENGTHS, 32), exact.probabilities(MIXED_LENGTHS, 32), atol=0.02)


def test_threads_predicting_at_once_get_the_answers_each_would_get_alone(transformer_folder: Path) -> None:
    import threading

    model = load_model(transformer_folder, device="cpu", quantize=True)
    expected = [model.predict([text])[0] for text in MIXED_LENGTHS]
    results: dict[int, list[dict[str, Any]]] = {}

    def client(number: int) -> None:
        results[number] = [model.predict([text])[0] for text in MIXED_LENGTHS * 3]

    threads = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for answers in results.values():
        for answer, wanted in zip(answers, expected * 3):
            assert answer["label"] == wanted["label"]
            assert answer["probabilities"] == pytest.approx(wanted["probabilities"], abs=1e-6)
