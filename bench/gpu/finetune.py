"""Fine-tune all-MiniLM-L6-v2 on the default snapshot on one GPU, through the platform's own training code.

It calls ``workers.ml.train`` (what the Celery task calls) on the compact inputs that
``bench/gpu/prepare.py`` wrote, with the seed project's hyperparameters (2 epochs, 256 tokens, lr 2e-5,
batch 16, weight decay 0.01) and head_tail truncation; bf16 comes from the training code's own device
choice. It writes the metrics, per-epoch losses, throughput and peak GPU memory to ``--out``.

Usage: python bench/gpu/finetune.py --inputs .gpu --out OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import lzma
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from workers.ml import SplitData, TrainConfig  # noqa: E402
from workers.ml.training import train  # noqa: E402
from workers.ml.data import Example  # noqa: E402

SEED_PROJECT = {"accuracy": 0.92, "precision": 0.91, "recall": 0.93, "f1": 0.92}


def load_snapshot(inputs: Path) -> tuple[SplitData, dict[str, Any]]:
    splits: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    with lzma.open(inputs / "snapshot.jsonl.xz", "rt") as handle:
        for line in handle:
            row = json.loads(line)
            splits[row["split"]].append(Example(review_id=row["id"], text=row["text"], label=row["label"]))
    meta = json.loads((inputs / "snapshot.json").read_text())
    return SplitData(**splits), meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=Path, default=REPO / ".gpu")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="Reviews per split, for a quick check on the CPU.")
    parser.add_argument(
        "--compile",
        default=None,
        help="torch.compile mode for training (off, default, reduce-overhead, auto); default: TRAIN_TORCH_COMPILE or auto",
    )
    args = parser.parse_args()

    import torch

    data, meta = load_snapshot(args.inputs)
    if args.limit:
        data = SplitData(train=data.train[: args.limit], validation=data.validation[: args.limit], test=data.test[: args.limit])
    config = TrainConfig(
        kind="transformer",
        base_model=str(args.inputs / "base-model"),
        epochs=args.epochs,
        max_length=256,
        truncation="head_tail",
        learning_rate=2e-5,
        batch_size=16,
        weight_decay=0.01,
    )
    steps: list[dict[str, Any]] = []

    def progress(event: dict[str, Any]) -> None:
        if event["type"] == "epoch":
            print(json.dumps(event), flush=True)
        elif event["type"] == "step" and event["step"] % 500 == 0:
            steps.append(event)
            print(f"step {event['step']}/{event['total_steps']} eta {event['eta_seconds']}", flush=True)

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = train(
        config,
        data,
        args.out / "model",
        progress=progress,
        compile_mode=args.compile,
        lineage={"snapshot_hash": meta["snapshot_hash"], "snapshot_seed": meta["seed"], "source": "bench/gpu/finetune.py"},
    )
    wall = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None

    report = {
        "benchmark": "gpu_finetune",
        "device": result.device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "snapshot": meta,
        "hyperparameters": config.to_dict(),
        "compile_mode": args.compile,
        "test_metrics": result.metrics,
        "seed_project_test_metrics": SEED_PROJECT,
        "epochs": result.epochs,
        "train_samples_per_second": result.train_samples_per_second,
        "wall_seconds": wall,
        "peak_gpu_memory_gib": peak,
        "artifact_bytes": result.artifact_size,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_finetune.json").write_text(json.dumps(report, indent=2))
    metrics = result.metrics
    print(
        f"gpu_finetune: {result.device}: test accuracy {metrics['accuracy']:.4f} precision {metrics['precision']:.4f} "
        f"recall {metrics['recall']:.4f} F1 {metrics['f1']:.4f} (seed project 0.92/0.91/0.93/0.92); "
        f"{result.train_samples_per_second:.0f} train samples/s; wall {wall:.0f}s; peak GPU memory {peak} GiB"
    )


if __name__ == "__main__":
    main()
