"""TF-IDF + logistic regression on the seed project's 80/10/10 reshuffle of the 50,000 labelled IMDb reviews.

Runs `workers.ml.train` without Django; writes bench/results/tfidf_baseline.json and prints one line.
`--smoke` runs the same steps on 2,000 reviews in seconds and writes no results (CI: `make bench-smoke`).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from pathlib import Path

from workers.ml import TrainConfig
from workers.ml.training import train
from workers.ml.data import read_imdb_parquet, split_examples

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb"
SMOKE_REVIEWS = 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train.parquet and test.parquet")
    parser.add_argument("--seed", type=int, default=42, help="seed of the reshuffle and of training")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_REVIEWS} reviews, no results written")
    args = parser.parse_args()

    examples = read_imdb_parquet(args.data)
    if args.smoke:
        examples = random.Random(args.seed).sample(examples, SMOKE_REVIEWS)
    data = split_examples(examples, seed=args.seed)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = train(
            TrainConfig(kind="tfidf", seed=args.seed),
            data,
            Path(folder) / "model",
            lineage={"source": str(args.data), "split": "80/10/10 seeded reshuffle", "seed": args.seed},
        )
        wall = time.perf_counter() - started
    metrics = result.metrics
    record = {
        "benchmark": "tfidf_baseline",
        "reviews": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
        "metrics": metrics,
        "chosen_C": result.manifest["hyperparameters"]["C"],
        "vocabulary_size": result.manifest["hyperparameters"]["vocabulary_size"],
        "wall_seconds": wall,
        "artifact_bytes": result.artifact_size,
        "machine": {"processor": platform.processor() or platform.machine(), "python": platform.python_version()},
    }
    if not args.smoke:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "tfidf_baseline.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(
        f"tfidf_baseline{' (smoke)' if args.smoke else ''}: accuracy {metrics['accuracy']:.4f} precision {metrics['precision']:.4f} "
        f"recall {metrics['recall']:.4f} F1 {metrics['f1']:.4f} on {len(data.test)} test reviews; "
        f"{wall:.1f} s wall (fit, test scoring and artifact writing), C={record['chosen_C']:g}"
    )


if __name__ == "__main__":
    main()
