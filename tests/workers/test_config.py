from __future__ import annotations

import subprocess
import sys

import pytest

from workers.ml.config import DEFAULT_BASE_MODEL, TrainConfig


def test_default_config_is_valid_and_matches_the_seed_project() -> None:
    config = TrainConfig()

    assert config.errors() == {}
    assert (config.base_model, config.learning_rate, config.batch_size, config.epochs) == (DEFAULT_BASE_MODEL, 2e-5, 16, 2)
    assert (config.weight_decay, config.max_length, config.lowercase) == (0.01, 256, True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "svm", "Unknown model kind 'svm': choose one of transformer, tfidf."),
        ("base_model", "  ", "Base model must not be empty"),
        ("truncation", "tail", "Unknown truncation 'tail': choose one of head, head_tail."),
        ("learning_rate", 0, "Learning rate must be greater than 0 and at most 1 (got 0)."),
        ("learning_rate", 2.0, "Learning rate must be greater than 0 and at most 1 (got 2)."),
        ("learning_rate", float("nan"), "Learning rate must be a number greater than 0 and at most 1."),
        ("batch_size", 0, "Batch size must be between 1 and 1024 (got 0)."),
        ("batch_size", 2048, "Batch size must be between 1 and 1024 (got 2048)."),
        ("batch_size", 8.5, "Batch size must be a whole number between 1 and 1024."),
        ("epochs", 101, "Epochs must be between 1 and 100 (got 101)."),
        ("max_length", 4, "Max length must be between 8 and 8192 (got 4)."),
        ("warmup_ratio", 1.0, "Warmup ratio must be at least 0 and below 1 (got 1)."),
        ("weight_decay", -0.1, "Weight decay must be at least 0 (got -0.1)."),
        ("subset_size", 1, "Subset size must be at least 2 (got 1)."),
        ("early_stopping_patience", 0, "Early stopping patience must be at least 1 (got 0)."),
        ("lowercase", "yes", "Lowercase must be true or false."),
        ("tfidf_ngram_max", 6, "Longest n-gram must be between 1 and 5 (got 6)."),
        ("tfidf_ngram_max", 0, "Longest n-gram must be between 1 and 5 (got 0)."),
        ("tfidf_min_df", 0, "Minimum review count (min_df) must be at least 1 (got 0)."),
        ("tfidf_c", 0, "C (inverse regularisation) must be greater than 0 and at most 1e+06 (got 0)."),
        ("tfidf_c", "big", "C (inverse regularisation) must be a number greater than 0 and at most 1e+06."),
        ("tfidf_nb_weighting", "yes", "Naive-Bayes weighting must be true or false."),
    ],
)
def test_each_bad_field_gets_a_message_saying_what_is_allowed(field: str, value: object, message: str) -> None:
    errors = TrainConfig(**{field: value}).errors()

    assert list(errors) == [field]
    assert errors[field].startswith(message)


def test_optional_limits_accept_none() -> None:
    assert TrainConfig(subset_size=None, early_stopping_patience=None, tfidf_c=None).errors() == {}


def test_each_kind_lists_only_the_settings_it_reads() -> None:
    tfidf = TrainConfig(kind="tfidf").model_settings()
    transformer = TrainConfig(kind="transformer").model_settings()

    assert tfidf == {
        "tfidf_ngram_max": 3, "tfidf_min_df": 2, "tfidf_c": 16.0, "tfidf_nb_weighting": True,
        "lowercase": True, "seed": 42, "subset_size": None, "eval_subset_size": None,
    }  # fmt: skip
    assert "base_model" in transformer and "learning_rate" in transformer
    assert not any(name.startswith("tfidf_") for name in transformer)


def test_config_round_trips_through_a_dict() -> None:
    config = TrainConfig(kind="tfidf", learning_rate=5e-5, subset_size=400, truncation="head_tail")

    assert TrainConfig.from_dict(config.to_dict()) == config


def test_unknown_stored_settings_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="Unknown training setting\\(s\\): learning_rat"):
        TrainConfig.from_dict({"learning_rat": 1e-5})


def test_web_processes_can_import_the_config_without_heavy_libraries() -> None:
    probe = (
        "import sys, workers.ml, workers.ml.config, workers.ml.artifacts;"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sklearn', 'scipy') if m in sys.modules);"
        "print(','.join(heavy))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert completed.stdout.strip() == ""


def test_compile_mode_follows_the_request_the_variable_and_the_device(monkeypatch):
    from workers.ml.transformer import GPU_COMPILE_MODE, compile_mode_for

    monkeypatch.delenv("TRAIN_TORCH_COMPILE", raising=False)
    assert compile_mode_for(None, on_gpu=False) == "off"
    assert compile_mode_for(None, on_gpu=True) == GPU_COMPILE_MODE
    monkeypatch.setenv("TRAIN_TORCH_COMPILE", "reduce-overhead")
    assert compile_mode_for(None, on_gpu=True) == "reduce-overhead"
    assert compile_mode_for("off", on_gpu=True) == "off"


def test_an_unknown_compile_mode_is_refused_with_the_choices(monkeypatch):
    from workers.ml.transformer import compile_mode_for

    monkeypatch.setenv("TRAIN_TORCH_COMPILE", "fastest")
    with pytest.raises(ValueError, match="'fastest'.*TRAIN_TORCH_COMPILE.*auto, off, default, reduce-overhead"):
        compile_mode_for(None, on_gpu=True)
