"""Training throughput: our path (length-grouped batches, dynamic padding, head+tail truncation, and on a
GPU bf16 with optional torch.compile) against a plain Trainer that pads every review to max_length, on
the same model, reviews and machine, in one run.

The plain Trainer runs as its defaults leave it (float32) and, on a GPU, also with bf16, so the ratio can
be read against both. Each figure is a steady-state rate: the first quarter of a run's steps is left out
(first-call setup, compilation, CUDA graph recording), and that setup time is reported on its own.

Writes JSON (default bench/results/train_throughput.json) and prints a line per run. `--smoke` runs
every step in seconds on the CPU (a tiny random BERT, 64 reviews of at most 64 tokens) and writes its
JSON to a temporary folder (CI: `make bench-smoke`).
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Runnable from a bare checkout (the GPU machine has no install of the project).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from workers.ml import SplitData, TrainConfig
from workers.ml.training import train
from workers.ml.base_models import load_base_model
from workers.ml.data import Example, clean_text, read_imdb_parquet
from workers.ml.devices import describe_device
from workers.ml.encoding import encode_texts

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb"


SKIP_FRACTION = 0.25


class EpochClock(TrainerCallback):
    """Seconds spent inside epochs, measured the same way our training path measures them, and step times."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        self.steps: list[tuple[int, float]] = []

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.steps.append((state.global_step, time.perf_counter()))

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.seconds += time.perf_counter() - self._started


def steady_rate(steps: list[tuple[int, float]], batch_size: int) -> float:
    """Samples per second between the first step past SKIP_FRACTION of the run and its last step."""
    last_step, last_time = steps[-1]
    first_step, first_time = next((step, at) for step, at in steps if step >= SKIP_FRACTION * last_step)
    if last_step == first_step:
        raise ValueError("Too few steps to measure a steady rate; use more reviews.")
    return (last_step - first_step) * batch_size / (last_time - first_time)


def summarise(reviews: int, epoch_seconds: float, steady: float) -> dict[str, float]:
    """A run's figures: its steady rate, its rate over the whole epoch, and the setup time the difference implies."""
    return {
        "steady_samples_per_second": steady,
        "epoch_samples_per_second": reviews / epoch_seconds,
        "epoch_seconds": epoch_seconds,
        # What the epoch took beyond the steady rate: first-call setup, compilation, graph recording.
        "setup_seconds": max(0.0, epoch_seconds - reviews / steady),
    }


class PaddedReviews:
    def __init__(self, encodings: dict[str, list[list[int]]], labels: list[int]) -> None:
        self.encodings = encodings
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.encodings["input_ids"][index], "attention_mask": self.encodings["attention_mask"][index], "labels": self.labels[index]}


def model_factory(args: argparse.Namespace) -> Any:
    def build(num_labels: int) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        model, tokenizer = load_base_model(args.base_model, num_labels)
        if not args.tiny:
            return model, tokenizer
        tiny = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=max(512, args.max_length),
            num_labels=num_labels,
        )
        return BertForSequenceClassification(tiny), tokenizer

    return build


def padded_baseline(args: argparse.Namespace, reviews: list[Example], precision: str | None) -> dict[str, float]:
    """A textbook Trainer run: tokenizer pads and cuts every review to max_length, random batches."""
    set_seed(args.seed)
    model, tokenizer = model_factory(args)(2)
    encodings = tokenizer(
        [clean_text(example.text, True) for example in reviews], padding="max_length", truncation=True, max_length=args.max_length
    )
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(
            model=model,
            args=TrainingArguments(
                output_dir=folder,
                per_device_train_batch_size=args.batch_size,
                num_train_epochs=1,
                learning_rate=2e-5,
                weight_decay=0.01,
                seed=args.seed,
                bf16=precision == "bf16",
                fp16=precision == "fp16",
                use_cpu=precision is None,
                eval_strategy="no",
                save_strategy="no",
                report_to="none",
                disable_tqdm=True,
            ),
            train_dataset=PaddedReviews(dict(encodings), [example.label for example in reviews]),
            data_collator=DataCollatorWithPadding(tokenizer),
            callbacks=[clock],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    return summarise(len(reviews), clock.seconds, steady_rate(clock.steps, args.batch_size))


def our_path(args: argparse.Namespace, reviews: list[Example], held_out: list[Example], compile_mode: str) -> dict[str, float]:
    """`workers.ml.train`, what the Celery task runs, timed from its own progress events."""
    steps: list[tuple[int, float]] = []

    def progress(event: dict[str, Any]) -> None:
        if event["type"] == "step":
            steps.append((event["step"], time.perf_counter()))

    with tempfile.TemporaryDirectory() as folder:
        result = train(
            TrainConfig(max_length=args.max_length, batch_size=args.batch_size, epochs=1, truncation="head_tail", seed=args.seed),
            SplitData(train=reviews, validation=held_out[:8], test=held_out[8:]),
            Path(folder) / "model",
            progress=progress,
            model_override=model_factory(args),
            compile_mode=compile_mode,
        )
    epoch_rate = result.train_samples_per_second or 0.0
    return summarise(len(reviews), len(reviews) / epoch_rate, steady_rate(steps, args.batch_size))


def read_reviews(data: Path) -> list[Example]:
    """Training reviews from an IMDb parquet folder, or from the compact snapshot bench/gpu/prepare.py writes."""
    if data.name.endswith(".jsonl.xz"):
        with lzma.open(data, "rt") as handle:
            rows = [json.loads(line) for line in handle]
        return [Example(review_id=row["id"], text=row["text"], label=row["label"]) for row in rows if row["split"] == "train"]
    return read_imdb_parquet(data, splits=("train",))


def warm_up(args: argparse.Namespace, precision: str | None) -> None:
    """Untimed steps, so neither measured run pays for first-call setup.

    On a GPU every new batch shape costs kernel selection and allocator work once; dynamic padding makes
    one shape per multiple of 8 up to max_length, which a long training run meets in its first minute,
    so all of them are warmed. On the CPU one full-length step is enough.
    """
    device = "cuda" if precision else "cpu"
    model, _ = model_factory(args)(2)
    model.to(device).train()
    widths = sorted({*range(8, args.max_length + 1, 8), args.max_length}) if precision else [args.max_length]
    for width in widths:
        ids = torch.randint(1000, 2000, (args.batch_size, width), device=device)
        # A padded row, as real batches have, so the masked attention kernels are the ones warmed.
        mask = torch.ones_like(ids)
        mask[-1, width // 2 :] = 0
        labels = torch.zeros(args.batch_size, dtype=torch.long, device=device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=256, help="training reviews (from the IMDb train parquet)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", choices=["auto", "cpu"], default="auto", help="auto uses CUDA (bf16) when present")
    parser.add_argument("--tiny", action="store_true", help="a random 2-layer BERT instead of the pre-trained model")
    parser.add_argument("--base-model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--compile",
        default="off",
        help="comma-separated torch.compile modes to run our path with (off, default, reduce-overhead); GPU only",
    )
    parser.add_argument(
        "--plan-samples",
        type=int,
        default=80_000,
        help="training samples of the run to plan for (2 epochs of 40,000): the recommended mode is the one "
        "that finishes it soonest, setup included",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "train_throughput.json")
    parser.add_argument("--smoke", action="store_true", help="tiny model, 64 reviews, CPU, results in a temporary folder")
    args = parser.parse_args()
    if args.smoke:
        args.tiny, args.n, args.max_length, args.device = True, 64, 64, "cpu"
        args.output = Path(tempfile.mkdtemp(prefix="bench-train-smoke-")) / "train_throughput.json"
    if args.device == "cpu":
        # Hiding the GPUs is the one switch both the Trainer and our path honour.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""

    pool = read_reviews(args.data)
    random.Random(args.seed).shuffle(pool)
    reviews, held_out = pool[: args.n], pool[args.n : args.n + 16]
    device_name, precision = describe_device()
    modes = [mode.strip() for mode in args.compile.split(",") if mode.strip()] if precision else ["off"]
    warm_up(args, precision)

    baselines: dict[str, Any] = {"float32": padded_baseline(args, reviews, None if precision is None else "fp32")}
    if precision:
        baselines[precision] = padded_baseline(args, reviews, precision)
    print(f"measured padded baselines: {json.dumps(baselines)}", flush=True)
    _, tokenizer = model_factory(args)(2)
    lengths = [len(ids) for ids in encode_texts(tokenizer, [e.text for e in reviews], max_length=args.max_length, truncation="head_tail", lowercase=True)]
    ours: dict[str, Any] = {}
    for mode in modes:
        try:
            figures = our_path(args, reviews, held_out, mode)
        except Exception as error:  # one failing mode must not lose the others' figures
            ours[mode] = {"error": f"{type(error).__name__}: {error}"[:2000]}
        else:
            figures["speedup"] = {
                name: figures["steady_samples_per_second"] / base["steady_samples_per_second"] for name, base in baselines.items()
            }
            figures["planned_run_seconds"] = figures["setup_seconds"] + args.plan_samples / figures["steady_samples_per_second"]
            ours[mode] = figures
        # Written after every mode, so a run cut short by a time limit keeps what it measured.
        record = write_record(args, device_name, lengths, baselines, ours)
        print(f"measured our path with compile {mode}: {json.dumps(ours[mode])[:400]}", flush=True)
    print_record(record)
    if args.smoke and any("error" in figures for figures in ours.values()):
        raise SystemExit("train_throughput smoke: our path failed (see above)")


def write_record(
    args: argparse.Namespace, device_name: str, lengths: list[int], baselines: dict[str, Any], ours: dict[str, Any]
) -> dict[str, Any]:
    working = {mode: figures for mode, figures in ours.items() if "error" not in figures}
    recommended = min(working, key=lambda mode: working[mode]["planned_run_seconds"]) if working else None
    record = {
        "benchmark": "train_throughput",
        "device": device_name,
        "model": "tiny random BERT (2 layers, hidden 32)" if args.tiny else args.base_model,
        "reviews": args.n,
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "mean_tokens_after_truncation": statistics.fmean(lengths),
        "measured": f"steady state: steps after the first {SKIP_FRACTION:.0%} of a 1-epoch run",
        "padded_baselines": baselines,
        "ours": ours,
        "recommended_compile_mode": recommended,
        "plan_samples": args.plan_samples,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def print_record(record: dict[str, Any]) -> None:
    baselines, ours, recommended = record["padded_baselines"], record["ours"], record["recommended_compile_mode"]
    print(f"train_throughput: {record['model']} on {record['device']}, {record['reviews']} reviews, max_length {record['max_length']}, batch {record['batch_size']}, "
          f"mean {record['mean_tokens_after_truncation']:.0f} tokens per review")
    for name, base in baselines.items():
        print(f"  padded Trainer {name}: {base['steady_samples_per_second']:.1f} samples/s (setup {base['setup_seconds']:.1f} s)")
    for mode, figures in ours.items():
        if "error" in figures:
            print(f"  ours, compile {mode}: FAILED {figures['error'][:300]}")
            continue
        ratios = ", ".join(f"{ratio:.2f}x vs {name}" for name, ratio in figures["speedup"].items())
        print(f"  ours, compile {mode}: {figures['steady_samples_per_second']:.1f} samples/s = {ratios} (setup {figures['setup_seconds']:.1f} s)")
    print(f"  recommended compile mode for {record['plan_samples']} samples: {recommended}")


if __name__ == "__main__":
    main()
