"""Training hyperparameters, validated without importing anything heavy.

Django web processes import this module to validate forms, so it must stay free of torch,
transformers and scikit-learn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

DEFAULT_BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_KINDS = ("transformer", "tfidf")
TRUNCATIONS = ("head", "head_tail")
# Longer word n-grams than this add millions of features that almost never recur.
MAX_NGRAM = 5
# Which settings each kind reads, so pages and comparisons show a run's own settings only.
TRANSFORMER_SETTINGS = (
    "base_model", "learning_rate", "batch_size", "epochs", "weight_decay", "max_length", "truncation",
    "warmup_ratio", "early_stopping_patience", "lowercase", "seed", "subset_size", "eval_subset_size",
    "mlm_steps", "mlm_reviews",
)  # fmt: skip
# Domain adaptation (workers/ml/domain.py): at most this many masked-language-modelling steps before fine-tuning.
MAX_MLM_STEPS = 100_000
TFIDF_SETTINGS = (
    "tfidf_ngram_max", "tfidf_min_df", "tfidf_c", "tfidf_nb_weighting", "lowercase", "seed", "subset_size",
    "eval_subset_size",
)  # fmt: skip
# The smallest sample of validation or test reviews a quick trial may score.
MIN_EVAL_SUBSET = 10


@dataclass
class TrainConfig:
    kind: str = "transformer"
    base_model: str = DEFAULT_BASE_MODEL
    learning_rate: float = 2e-5
    batch_size: int = 16
    epochs: int = 2
    weight_decay: float = 0.01
    max_length: int = 256
    truncation: str = "head"
    lowercase: bool = True
    seed: int = 42
    subset_size: int | None = None
    # Score only this many validation and test reviews (a seeded sample): a quick trial, not a measurement.
    eval_subset_size: int | None = None
    early_stopping_patience: int | None = None
    warmup_ratio: float = 0.0
    # Domain adaptation: continue pre-training the encoder with masked-language modelling on this many
    # batches of unlabelled reviews before fine-tuning (0: off), reading at most `mlm_reviews` of them.
    mlm_steps: int = 0
    mlm_reviews: int | None = None
    # The TF-IDF kind's own settings (workers/ml/tfidf.py); a transformer run ignores them.
    tfidf_ngram_max: int = 3
    tfidf_min_df: int = 2
    # None: choose C on the validation split among workers.ml.tfidf.C_GRID.
    tfidf_c: float | None = 16.0
    tfidf_nb_weighting: bool = True

    def errors(self) -> dict[str, str]:
        """Return a message per invalid field; an empty dict means the config is usable."""
        found: dict[str, str] = {}
        if self.kind not in MODEL_KINDS:
            found["kind"] = f"Unknown model kind {self.kind!r}: choose one of {', '.join(MODEL_KINDS)}."
        if not isinstance(self.base_model, str) or not self.base_model.strip():
            found["base_model"] = (
                "Base model must not be empty: give a Hugging Face hub id or a local folder "
                f"(the default is {DEFAULT_BASE_MODEL})."
            )
        if self.truncation not in TRUNCATIONS:
            found["truncation"] = f"Unknown truncation {self.truncation!r}: choose one of {', '.join(TRUNCATIONS)}."
        if not isinstance(self.lowercase, bool):
            found["lowercase"] = "Lowercase must be true or false."

        _check_number(found, "learning_rate", self.learning_rate, "Learning rate", above=0, at_most=1)
        _check_number(found, "weight_decay", self.weight_decay, "Weight decay", at_least=0)
        _check_number(found, "warmup_ratio", self.warmup_ratio, "Warmup ratio", at_least=0, below=1)
        _check_whole(found, "batch_size", self.batch_size, "Batch size", 1, 1024)
        _check_whole(found, "epochs", self.epochs, "Epochs", 1, 100)
        _check_whole(found, "max_length", self.max_length, "Max length", 8, 8192)
        _check_whole(found, "seed", self.seed, "Seed", 0, 2**32 - 1)
        if self.subset_size is not None:
            _check_whole(found, "subset_size", self.subset_size, "Subset size", 2, None)
        if self.eval_subset_size is not None:
            _check_whole(found, "eval_subset_size", self.eval_subset_size, "Reviews scored", MIN_EVAL_SUBSET, None)
        if self.early_stopping_patience is not None:
            _check_whole(found, "early_stopping_patience", self.early_stopping_patience, "Early stopping patience", 1, None)
        _check_whole(found, "mlm_steps", self.mlm_steps, "Masked-language-modelling steps", 0, MAX_MLM_STEPS)
        if self.mlm_reviews is not None:
            _check_whole(found, "mlm_reviews", self.mlm_reviews, "Unlabelled reviews for adaptation", 1, None)
        if self.kind != "transformer" and "mlm_steps" not in found and self.mlm_steps:
            found["mlm_steps"] = "Domain adaptation (masked-language modelling) needs a transformer run: set it to 0 for the TF-IDF kind."
        _check_whole(found, "tfidf_ngram_max", self.tfidf_ngram_max, "Longest n-gram", 1, MAX_NGRAM)
        _check_whole(found, "tfidf_min_df", self.tfidf_min_df, "Minimum review count (min_df)", 1, None)
        if self.tfidf_c is not None:
            _check_number(found, "tfidf_c", self.tfidf_c, "C (inverse regularisation)", above=0, at_most=1e6)
        if not isinstance(self.tfidf_nb_weighting, bool):
            found["tfidf_nb_weighting"] = "Naive-Bayes weighting must be true or false."
        return found

    def model_settings(self) -> dict[str, Any]:
        """The settings that shape a model of this kind (the others are ignored by its trainer)."""
        names = TRANSFORMER_SETTINGS if self.kind == "transformer" else TFIDF_SETTINGS
        return {name: getattr(self, name) for name in names}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build a config from stored values; unknown keys are refused so typos do not pass silently."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown training setting(s): {', '.join(unknown)}. Known settings: {', '.join(sorted(known))}.")
        return cls(**values)


def _is_number(value: object) -> bool:
    # bool is an int subclass, but True as a learning rate is a form bug, not a number.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_number(
    found: dict[str, str],
    name: str,
    value: object,
    label: str,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
) -> None:
    bounds = [
        (above, "greater than", lambda v, b: v > b),
        (at_least, "at least", lambda v, b: v >= b),
        (below, "below", lambda v, b: v < b),
        (at_most, "at most", lambda v, b: v <= b),
    ]
    wanted = " and ".join(f"{words} {bound:g}" for bound, words, _ in bounds if bound is not None)
    # value != value is how NaN shows itself; bool is excluded because True is a form bug, not a number.
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        found[name] = f"{label} must be a number {wanted}."
    elif not all(holds(value, bound) for bound, _, holds in bounds if bound is not None):
        found[name] = f"{label} must be {wanted} (got {value:g})."


def _check_whole(found: dict[str, str], name: str, value: object, label: str, low: int, high: int | None) -> None:
    wanted = f"between {low} and {high}" if high is not None else f"at least {low}"
    if not isinstance(value, int) or isinstance(value, bool):
        found[name] = f"{label} must be a whole number {wanted}."
    elif value < low or (high is not None and value > high):
        found[name] = f"{label} must be {wanted} (got {value})."
