from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from workers.ml import Example, SplitData, TrainConfig, TrainResult, train
from workers.ml.artifacts import read_manifest, verify_artifacts
from workers.ml.predictor import evaluate, load_model
from workers.ml.tfidf import TfidfFeaturizer

PRAISE = ["a masterpiece", "truly great", "loved every minute", "superb acting", "highly recommended"]
SCORN = ["a waste of time", "truly awful", "hated every minute", "wooden acting", "avoid it"]
PLOT = ["the heist", "a family drama", "the space station", "two rival chefs", "a haunted lighthouse", "the trial"]


def reviews(count: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    made = []
    for index in range(count):
        label = index % 2
        verdicts = rng.sample(PRAISE if label else SCORN, 2)
        text = f"This film about {rng.choice(PLOT)} is {verdicts[0]}.<br /><br />In short: {verdicts[1]}, {rng.choice(PLOT)}."
        made.append(Example(review_id=seed * 1000 + index, text=text, label=label))
    return made


@pytest.fixture(scope="module")
def data() -> SplitData:
    return SplitData(train=reviews(200, seed=1), validation=reviews(40, seed=2), test=reviews(40, seed=3))


@pytest.fixture(scope="module")
def trained(data: SplitData, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    result = train(
        TrainConfig(kind="tfidf"), data, tmp_path_factory.mktemp("runs") / "tfidf", progress=events.append, lineage={"run_id": 3}
    )
    return result, events


def test_featurizer_matches_scikit_learn_tfidf_vectorizer() -> None:
    texts = [example.text.lower() for example in reviews(300, seed=5)] + ["unseen words only", ""]
    reference = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=False)
    expected = reference.fit_transform(texts[:300])

    featurizer, matrix = TfidfFeaturizer.fit(texts[:300])

    columns = [reference.vocabulary_[term] for term in featurizer.terms]
    assert sorted(featurizer.terms) == sorted(reference.vocabulary_)
    np.testing.assert_allclose(featurizer.idf, reference.idf_[columns])
    np.testing.assert_allclose(matrix.toarray(), expected[:, columns].toarray(), atol=1e-12)
    np.testing.assert_allclose(featurizer.transform(texts).toarray(), reference.transform(texts)[:, columns].toarray(), atol=1e-12)


def test_tfidf_learns_clear_sentiment_and_reports_one_epoch(trained: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    result, events = trained
    [epoch] = [event for event in events if event["type"] == "epoch"]

    assert result.metrics["accuracy"] >= 0.9
    assert epoch["epoch"] == 1 and epoch["validation_accuracy"] >= 0.9
    assert epoch["train_loss"] >= 0 and epoch["validation_loss"] >= 0
    assert [event["step"] for event in events if event["type"] == "step"] == [1, 2, 3]
    assert result.device == "cpu" and result.epochs == [epoch]


def test_tfidf_artifacts_are_json_and_safetensors_only(trained: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    folder = trained[0].artifact_dir
    manifest = read_manifest(folder)

    assert verify_artifacts(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "manifest.json", "vocabulary.json", "weights.safetensors"]
    # Pickle streams start with the PROTO opcode 0x80; none of the files may be one.
    assert not [p.name for p in folder.iterdir() if p.read_bytes()[:1] == b"\x80"]
    assert manifest["kind"] == "tfidf" and manifest["base_model"] is None and manifest["lineage"] == {"run_id": 3}
    assert manifest["hyperparameters"]["C"] in manifest["hyperparameters"]["C_grid"]


def test_reloaded_tfidf_model_predicts_identically(trained: tuple[TrainResult, list[dict[str, Any]]], data: SplitData) -> None:
    result, _ = trained

    predictions = load_model(result.artifact_dir).predict([example.text for example in data.test])
    metrics, rows = evaluate(result.artifact_dir, data.test)

    assert [p["label"] for p in predictions] == [row[2] for row in result.test_predictions]
    assert [p["confidence"] for p in predictions] == pytest.approx([row[3] for row in result.test_predictions], abs=1e-12)
    assert metrics == result.metrics and rows == result.test_predictions


def test_predicting_nothing_or_unseen_words_still_answers(trained: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    model = load_model(trained[0].artifact_dir)

    assert model.predict([]) == []
    [answer] = model.predict(["zzz qqq"])
    assert answer["label"] in (0, 1) and sum(answer["probabilities"]) == pytest.approx(1.0)
