"""TF-IDF (word 1-2 grams) + logistic regression: the fast CPU baseline.

The featuriser reproduces scikit-learn's `TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
min_df=2, lowercase=False)` exactly (same token pattern, smoothed idf, l2 norm), but counts n-grams with
numpy instead of a Python loop per token: on 40,000 reviews that is the difference between well under
a minute and over a minute for the whole fit. The same code featurises at prediction time, from JSON and
safetensors only, so no pickle is ever written or read. scikit-learn fits only the logistic regression.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workers.ml.config import TrainConfig
from workers.ml.data import Example, SplitData, clean_text
from workers.ml.metrics import classification_metrics

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from workers.ml import FitOutcome, ProgressReporter

# scikit-learn's default token pattern: words of two or more word characters.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
MIN_DOCUMENT_FREQUENCY = 2
# Regularisation strengths tried on the validation split; larger C fits the 600k n-grams more tightly.
C_GRID = (2.0, 8.0, 32.0)
VOCABULARY_FILE = "vocabulary.json"
WEIGHTS_FILE = "weights.safetensors"

_TOKEN = re.compile(TOKEN_PATTERN)


def _token_ids(texts: Sequence[str], index: dict[str, int], *, grow: bool) -> tuple[np.ndarray, np.ndarray]:
    """All texts' tokens as one id array plus each token's document number.

    With `grow`, unseen words get new ids; otherwise they get -1 and are dropped later.
    """
    ids: list[int] = []
    lengths: list[int] = []
    for text in texts:
        tokens = _TOKEN.findall(text)
        if grow:
            ids.extend([index.setdefault(token, len(index)) for token in tokens])
        else:
            ids.extend([index.get(token, -1) for token in tokens])
        lengths.append(len(tokens))
    documents = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    return np.asarray(ids, dtype=np.int64), documents


def _ngram_keys(ids: np.ndarray, documents: np.ndarray, vocabulary_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One integer key per unigram (its id) and per bigram (past all unigram ids), with document numbers.

    Bigrams never span two documents and never include an unknown word.
    """
    known = ids >= 0
    pairs = known[:-1] & known[1:] & (documents[:-1] == documents[1:])
    bigram_keys = vocabulary_size + ids[:-1][pairs] * vocabulary_size + ids[1:][pairs]
    keys = np.concatenate([ids[known], bigram_keys])
    key_documents = np.concatenate([documents[known], documents[:-1][pairs]])
    return keys, key_documents


class TfidfFeaturizer:
    """Turns cleaned texts into l2-normalised sublinear TF-IDF rows over a fixed list of terms."""

    def __init__(self, terms: list[str], idf: np.ndarray, word_ids: dict[str, int], term_keys: np.ndarray) -> None:
        if len(terms) != len(idf):
            raise ValueError(f"{len(terms)} terms but {len(idf)} idf weights; the vocabulary file and weights disagree.")
        self.terms = terms
        self.idf = idf
        self._word_ids = word_ids
        self._key_order = np.argsort(term_keys)
        self._sorted_keys = term_keys[self._key_order]

    @classmethod
    def from_terms(cls, terms: list[str], idf: np.ndarray) -> TfidfFeaturizer:
        """Rebuild the featuriser from the saved term list ("word" or "word word") and idf weights."""
        word_ids: dict[str, int] = {}
        split_terms = [term.split(" ") for term in terms]
        for words in split_terms:
            for word in words:
                word_ids.setdefault(word, len(word_ids))
        size = len(word_ids)
        keys = np.array(
            [
                word_ids[words[0]] if len(words) == 1 else size + word_ids[words[0]] * size + word_ids[words[1]]
                for words in split_terms
            ],
            dtype=np.int64,
        )
        return cls(terms, idf, word_ids, keys)

    @classmethod
    def fit(cls, texts: Sequence[str], min_df: int = MIN_DOCUMENT_FREQUENCY) -> tuple[TfidfFeaturizer, csr_matrix]:
        """Keep the 1-2 grams found in at least `min_df` texts, with scikit-learn's smoothed idf.

        Returns the featuriser and the texts' TF-IDF matrix, counted in the same pass.
        """
        word_ids: dict[str, int] = {}
        ids, documents = _token_ids(texts, word_ids, grow=True)
        size = len(word_ids)
        keys, key_documents = _ngram_keys(ids, documents, size)
        # Sorting by (key, document) turns both the term counts per review and the document frequency into
        # run lengths; lexsort avoids the int64 overflow that packing both into one number would risk.
        order = np.lexsort((key_documents, keys))
        keys, key_documents = keys[order], key_documents[order]
        run_starts = np.flatnonzero(
            np.concatenate([[True], (keys[1:] != keys[:-1]) | (key_documents[1:] != key_documents[:-1])])
        )
        counts = np.diff(np.append(run_starts, len(keys)))
        cell_keys, cell_documents = keys[run_starts], key_documents[run_starts]
        unique_keys, document_frequency = np.unique(cell_keys, return_counts=True)
        kept = document_frequency >= min_df
        if not kept.any():
            raise ValueError(
                f"No word or word pair appears in {min_df} or more training reviews; the TF-IDF model needs more text."
            )
        kept_keys = unique_keys[kept]
        words = list(word_ids)
        terms = [
            words[key] if key < size else f"{words[(key - size) // size]} {words[(key - size) % size]}"
            for key in kept_keys.tolist()
        ]
        idf = np.log((1 + len(texts)) / (1 + document_frequency[kept])) + 1.0
        featurizer = cls(terms, idf, word_ids, kept_keys)
        cell_kept = np.repeat(kept, document_frequency)
        columns = np.repeat(np.arange(len(kept_keys)), document_frequency[kept])
        matrix = featurizer._weigh(cell_documents[cell_kept], columns, counts[cell_kept], len(texts))
        return featurizer, matrix

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        ids, documents = _token_ids(texts, self._word_ids, grow=False)
        keys, key_documents = _ngram_keys(ids, documents, len(self._word_ids))
        positions = np.searchsorted(self._sorted_keys, keys)
        positions[positions == len(self._sorted_keys)] = 0
        found = self._sorted_keys[positions] == keys
        cells, counts = np.unique(key_documents[found] * len(self.terms) + self._key_order[positions[found]], return_counts=True)
        rows, columns = np.divmod(cells, len(self.terms))
        return self._weigh(rows, columns, counts, len(texts))

    def _weigh(self, rows: np.ndarray, columns: np.ndarray, counts: np.ndarray, row_count: int) -> csr_matrix:
        from scipy.sparse import csr_matrix

        values = (1.0 + np.log(counts)) * self.idf[columns]
        matrix = csr_matrix((values, (rows, columns)), shape=(row_count, len(self.terms)), dtype=np.float64)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        matrix.data /= np.repeat(norms, np.diff(matrix.indptr))
        return matrix


class TfidfScorer:
    """Featuriser plus logistic regression weights: texts in, [p_negative, p_positive] rows out."""

    def __init__(self, featurizer: TfidfFeaturizer, coef: np.ndarray, intercept: float, lowercase: bool) -> None:
        self.featurizer = featurizer
        self.coef = coef
        self.intercept = intercept
        self.lowercase = lowercase

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        from scipy.special import expit

        features = self.featurizer.transform([clean_text(text, self.lowercase) for text in texts])
        positive = expit(features @ self.coef + self.intercept)
        return np.column_stack([1.0 - positive, positive])

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        vocabulary = {
            "token_pattern": TOKEN_PATTERN,
            "ngram_range": [1, 2],
            "sublinear_tf": True,
            "norm": "l2",
            "terms": self.featurizer.terms,
        }
        (folder / VOCABULARY_FILE).write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
        save_file(
            {
                "idf": self.featurizer.idf,
                "coef": self.coef,
                "intercept": np.array([self.intercept], dtype=np.float64),
            },
            str(folder / WEIGHTS_FILE),
        )

    @classmethod
    def load(cls, folder: Path, lowercase: bool) -> TfidfScorer:
        from safetensors.numpy import load_file

        vocabulary = json.loads((folder / VOCABULARY_FILE).read_text(encoding="utf-8"))
        expected = {"token_pattern": TOKEN_PATTERN, "ngram_range": [1, 2], "sublinear_tf": True, "norm": "l2"}
        differing = sorted(key for key, value in expected.items() if vocabulary.get(key) != value)
        if differing:
            raise ValueError(f"This TF-IDF model uses settings this code cannot reproduce: {', '.join(differing)}.")
        weights = load_file(str(folder / WEIGHTS_FILE))
        return cls(
            TfidfFeaturizer.from_terms(vocabulary["terms"], weights["idf"]),
            weights["coef"],
            float(weights["intercept"][0]),
            lowercase,
        )


def _log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-15, 1.0)
    return float(-np.log(picked).mean())


def _labels(examples: Sequence[Example]) -> np.ndarray:
    return np.array([example.label for example in examples], dtype=np.int64)


def fit_tfidf(config: TrainConfig, data: SplitData, staging: Path, reporter: ProgressReporter) -> FitOutcome:
    """Fit the featuriser on train, pick C on validation, score test once, write the files into `staging`."""
    from sklearn.linear_model import LogisticRegression

    from workers.ml import FitOutcome

    started = time.perf_counter()
    train_texts = [clean_text(example.text, config.lowercase) for example in data.train]
    validation_texts = [clean_text(example.text, config.lowercase) for example in data.validation]
    featurizer, train_features = TfidfFeaturizer.fit(train_texts)
    validation_features = featurizer.transform(validation_texts)
    train_labels, validation_labels = _labels(data.train), _labels(data.validation)
    reporter.log(f"TF-IDF vocabulary: {len(featurizer.terms)} word and word-pair features.")
    reporter.check_stop()

    def fit_classifier(strength: float) -> Any:
        # The dual liblinear solver suits many more features than reviews; seeded for repeatability.
        classifier = LogisticRegression(C=strength, solver="liblinear", dual=True, max_iter=1000, random_state=config.seed)
        return classifier.fit(train_features, train_labels)

    best: tuple[float, float, Any] | None = None
    fits_started = time.perf_counter()
    # liblinear releases the GIL, so the candidate fits share the cores instead of queueing.
    with ThreadPoolExecutor(max_workers=min(len(C_GRID), os.cpu_count() or 1)) as pool:
        candidates = {pool.submit(fit_classifier, strength): strength for strength in C_GRID}
        for position, finished in enumerate(as_completed(candidates), start=1):
            classifier = finished.result()
            validation_loss = _log_loss(validation_labels, classifier.predict_proba(validation_features))
            # Ties go to the smaller C, the simpler model, whatever order the fits finish in.
            if best is None or (validation_loss, candidates[finished]) < best[:2]:
                best = (validation_loss, candidates[finished], classifier)
            elapsed = time.perf_counter() - fits_started
            reporter.step(position, len(C_GRID), elapsed / position * (len(C_GRID) - position), None)
            reporter.check_stop()
    assert best is not None
    validation_loss, strength, classifier = best
    reporter.log(f"Chose C={strength:g} by validation log-loss.")

    scorer = TfidfScorer(featurizer, classifier.coef_[0].astype(np.float64), float(classifier.intercept_[0]), config.lowercase)
    validation_predicted = classifier.predict(validation_features)
    validation_metrics = classification_metrics(validation_labels.tolist(), validation_predicted.tolist())
    reporter.epoch(
        epoch=1,
        step=len(C_GRID),
        train_loss=_log_loss(train_labels, classifier.predict_proba(train_features)),
        validation_loss=validation_loss,
        validation_accuracy=validation_metrics["accuracy"],
        validation_f1=validation_metrics["f1"],
    )
    fit_seconds = time.perf_counter() - started

    test_probabilities = scorer.probabilities([example.text for example in data.test])
    test_predicted = test_probabilities.argmax(axis=1)
    predictions = [
        (example.review_id, example.label, int(label), float(probabilities[label]))
        for example, label, probabilities in zip(data.test, test_predicted.tolist(), test_probabilities)
    ]
    scorer.save(staging)
    return FitOutcome(
        metrics=classification_metrics(_labels(data.test).tolist(), test_predicted.tolist()),
        test_predictions=predictions,
        device="cpu",
        train_samples_per_second=len(data.train) / fit_seconds,
        extra_hyperparameters={
            "ngram_range": [1, 2],
            "min_df": MIN_DOCUMENT_FREQUENCY,
            "sublinear_tf": True,
            "C": strength,
            "C_grid": list(C_GRID),
            "solver": "liblinear (dual)",
            "vocabulary_size": len(featurizer.terms),
        },
    )
