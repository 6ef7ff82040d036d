from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from workers.ml import Example, SplitData, TrainConfig
from workers.ml.training import TrainResult, train
from workers.ml.artifacts import read_manifest, verify_artifacts
from workers.ml.inference import evaluate, load_model
from workers.ml.data import clean_text
from workers.ml.tfidf import TOKEN_PATTERN, NgramFeaturizer, TfidfScorer

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


@pytest.mark.parametrize("ngram_max", [1, 2, 3])
def test_featurizer_with_idf_weighting_matches_scikit_learn_tfidf_vectorizer(ngram_max: int) -> None:
    texts = [example.text.lower() for example in reviews(300, seed=5)] + ["unseen words only!", ""]
    reference = TfidfVectorizer(
        ngram_range=(1, ngram_max), sublinear_tf=True, min_df=2, lowercase=False, token_pattern=TOKEN_PATTERN
    )
    expected = reference.fit_transform(texts[:300])
    labels = np.array([index % 2 for index in range(300)])

    featurizer, matrix = NgramFeaturizer.fit(texts[:300], labels, ngram_max=ngram_max, min_df=2, naive_bayes=False)

    terms = featurizer.terms()
    columns = [reference.vocabulary_[term] for term in terms]
    assert sorted(terms) == sorted(reference.vocabulary_)
    np.testing.assert_allclose(featurizer.term_weights, reference.idf_[columns])
    np.testing.assert_allclose(matrix.toarray(), expected[:, columns].toarray(), atol=1e-12)
    np.testing.assert_allclose(featurizer.transform(texts).toarray(), reference.transform(texts)[:, columns].toarray(), atol=1e-12)


def test_naive_bayes_weights_favour_the_words_of_each_label() -> None:
    texts = ["great film", "great fun", "awful film", "awful mess"] * 3
    labels = np.array([1, 1, 0, 0] * 3)

    featurizer, _ = NgramFeaturizer.fit(texts, labels, ngram_max=2, min_df=2, naive_bayes=True)
    weight = dict(zip(featurizer.terms(), featurizer.term_weights.tolist()))

    assert weight["great"] > 0 > weight["awful"]
    assert weight["film"] == pytest.approx(0.0)
    assert weight["great fun"] > 0 > weight["awful mess"]


def test_tfidf_learns_clear_sentiment_and_reports_one_epoch(trained: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    result, events = trained
    [epoch] = [event for event in events if event["type"] == "epoch"]

    assert result.metrics["accuracy"] >= 0.9
    assert epoch["epoch"] == 1 and epoch["validation_accuracy"] >= 0.9
    assert epoch["train_loss"] >= 0 and epoch["validation_loss"] >= 0
    assert [event["step"] for event in events if event["type"] == "step"] == [1]
    assert result.device == "cpu" and result.epochs == [epoch]


def test_tfidf_artifacts_are_json_and_safetensors_only(trained: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    folder = trained[0].artifact_dir
    manifest = read_manifest(folder)

    assert verify_artifacts(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "manifest.json", "vocabulary.json", "weights.safetensors"]
    # Pickle streams start with the PROTO opcode 0x80; none of the files may be one.
    assert not [p.name for p in folder.iterdir() if p.read_bytes()[:1] == b"\x80"]
    assert manifest["kind"] == "tfidf" and manifest["base_model"] is None and manifest["lineage"] == {"run_id": 3}
    settings = manifest["hyperparameters"]
    assert (settings["tfidf_ngram_max"], settings["tfidf_nb_weighting"], settings["C"]) == (3, True, 16.0)
    # A TF-IDF model card lists the TF-IDF settings, not a transformer's.
    assert "learning_rate" not in settings and "base_model" not in settings


def test_reloaded_tfidf_model_predicts_identically(trained: tuple[TrainResult, list[dict[str, Any]]], data: SplitData) -> None:
    result, _ = trained

    predictions = load_model(result.artifact_dir).predict([example.text for example in data.test])
    metrics, rows = evaluate(result.artifact_dir, data.test)

    assert [p["label"] for p in predictions] == [row[2] for row in result.test_predictions]
    assert [p["confidence"] for p in predictions] == pytest.approx([row[3] for row in result.test_predictions], abs=1e-12)
    assert metrics == result.metrics and rows == result.test_predictions


def test_a_model_saved_before_ngram_settings_still_predicts_as_it_did(tmp_path: Path) -> None:
    from safetensors.numpy import save_file
    from sklearn.linear_model import LogisticRegression

    train_texts = [clean_text(example.text, True) for example in reviews(200, seed=1)]
    labels = [example.label for example in reviews(200, seed=1)]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=False)
    classifier = LogisticRegression(C=8.0, solver="liblinear").fit(vectorizer.fit_transform(train_texts), labels)
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    # The files exactly as the 1-2 gram featuriser wrote them: terms as text, idf, coefficients in term order.
    vocabulary = {"token_pattern": r"(?u)\b\w\w+\b", "ngram_range": [1, 2], "sublinear_tf": True, "norm": "l2", "terms": terms}
    (tmp_path / "vocabulary.json").write_text(json.dumps(vocabulary), encoding="utf-8")
    save_file(
        {"idf": vectorizer.idf_, "coef": classifier.coef_[0], "intercept": classifier.intercept_.astype(np.float64)},
        str(tmp_path / "weights.safetensors"),
    )
    texts = [example.text for example in reviews(40, seed=3)] + ["zzz unseen"]

    scorer = TfidfScorer.load(tmp_path, lowercase=True)

    expected = classifier.predict_proba(vectorizer.transform([clean_text(text, True) for text in texts]))
    np.testing.assert_allclose(scorer.probabilities(texts), expected, atol=1e-12)


def test_predicting_nothing_or_unseen_words_still_answers(trained: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    model = load_model(trained[0].artifact_dir)

    assert model.predict([]) == []
    [answer] = model.predict(["zzz qqq"])
    assert answer["label"] in (0, 1) and sum(answer["probabilities"]) == pytest.approx(1.0)
