"""Training throughput: our path (length-grouped batches, dynamic padding, head+tail truncation) against a
plain Trainer that pads every review to max_length, on the same model, reviews and machine, in one run.

Writes JSON (default bench/results/train_throughput.json) and prints one line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

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

from workers.ml import SplitData, TrainConfig, train
from workers.ml.base_models import load_base_model
from workers.ml.data import Example, clean_text, read_imdb_parquet
from workers.ml.transformer import describe_device, encode_texts

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb"


class EpochClock(TrainerCallback):
    """Seconds spent inside epochs, measured the same way our training path measures them."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.seconds += time.perf_counter() - self._started


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


def padded_baseline(args: argparse.Namespace, reviews: list[Example], precision: str | None) -> float:
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
    return len(reviews) / clock.seconds


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
    parser.add_argument("--output", type=Path, default=RESULTS / "train_throughput.json")
    args = parser.parse_args()
    if args.device == "cpu":
        # Hiding the GPUs is the one switch both the Trainer and our path honour.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""

    pool = read_imdb_parquet(args.data, splits=("train",))
    random.Random(args.seed).shuffle(pool)
    reviews, held_out = pool[: args.n], pool[args.n : args.n + 16]
    device_name, precision = describe_device()
    warm_up(args, precision)

    baseline = padded_baseline(args, reviews, precision)
    with tempfile.TemporaryDirectory() as folder:
        result = train(
            TrainConfig(max_length=args.max_length, batch_size=args.batch_size, epochs=1, truncation="head_tail", seed=args.seed),
            SplitData(train=reviews, validation=held_out[:8], test=held_out[8:]),
            Path(folder) / "model",
            model_override=model_factory(args),
        )
    ours = result.train_samples_per_second or 0.0
    _, tokenizer = model_factory(args)(2)
    lengths = [len(ids) for ids in encode_texts(tokenizer, [e.text for e in reviews], max_length=args.max_length, truncation="head_tail", lowercase=True)]
    record = {
        "benchmark": "train_throughput",
        "device": device_name,
        "model": "tiny random BERT (2 layers, hidden 32)" if args.tiny else args.base_model,
        "reviews": args.n,
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "mean_tokens_after_truncation": statistics.fmean(lengths),
        "ours_samples_per_second": ours,
        "padded_baseline_samples_per_second": baseline,
        "speedup": ours / baseline,
        "torch_threads": torch.get_num_threads(),
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(
        f"train_throughput: {record['model']} on {device_name}, {args.n} reviews, max_length {args.max_length}, "
        f"batch {args.batch_size}: ours {ours:.1f} samples/s vs padded Trainer {baseline:.1f} samples/s "
        f"= {record['speedup']:.2f}x (mean {record['mean_tokens_after_truncation']:.0f} tokens per review)"
    )


if __name__ == "__main__":
    main()
