"""Fine-tuning a pre-trained encoder with the Hugging Face Trainer (the encoding it shares with prediction
is in `workers.ml.encoding`).

torch and transformers are imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workers.ml.base_models import load_base_model
from workers.ml.config import TrainConfig
from workers.ml.data import LABEL_NAMES, SplitData
from workers.ml.devices import describe_device
from workers.ml.encoding import encode_texts, model_input_names, predict_probabilities
from workers.ml.metrics import classification_metrics

if TYPE_CHECKING:
    from transformers import TrainerCallback

    from workers.ml import FitOutcome, ModelFactory, ProgressReporter

# How training may run the model through torch.compile: "off", "default" (fused kernels) or
# "reduce-overhead" (fused kernels replayed as CUDA graphs); "auto" picks per device.
COMPILE_MODES = ("auto", "off", "default", "reduce-overhead")
# What "auto" means on a GPU. A small encoder at batch 16 is bound by kernel launches, not arithmetic:
# on an H200, all-MiniLM-L6-v2 trained at 651 samples/s eagerly, 627 compiled and 1,378 with CUDA graphs,
# which pay back their ~36 s of compilation within the first epoch of a 40,000-review run
# (bench/results/train_throughput_h200.json). Compiling is not worth it on the CPU.
GPU_COMPILE_MODE = "reduce-overhead"


def compile_mode_for(requested: str | None, *, on_gpu: bool) -> str:
    """The compile mode to train with: `requested`, else the TRAIN_TORCH_COMPILE variable, else "auto"."""
    mode = requested if requested is not None else os.environ.get("TRAIN_TORCH_COMPILE", "auto").strip() or "auto"
    if mode not in COMPILE_MODES:
        raise ValueError(f"Unknown torch.compile mode {mode!r} (TRAIN_TORCH_COMPILE): choose one of {', '.join(COMPILE_MODES)}.")
    if mode == "auto":
        return GPU_COMPILE_MODE if on_gpu else "off"
    return mode


def _loader_workers(*, on_gpu: bool) -> int:
    """Data-loader processes: TRAIN_DATALOADER_WORKERS when set, else a few on a GPU and none on the CPU."""
    chosen = os.environ.get("TRAIN_DATALOADER_WORKERS", "").strip()
    if chosen:
        if not chosen.isdigit():
            raise ValueError(f"TRAIN_DATALOADER_WORKERS={chosen!r} must be a whole number of processes (0 or more).")
        return int(chosen)
    return min(4, (os.cpu_count() or 1) // 2) if on_gpu else 0


class _EncodedReviews:
    """A map-style dataset of unpadded reviews; the collator pads each batch to its own longest review."""

    def __init__(self, input_ids: list[list[int]], labels: list[int]) -> None:
        self.input_ids = input_ids
        self.labels = labels

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.input_ids[index], "labels": self.labels[index]}


@dataclass
class _TrainingClock:
    """Time spent inside epochs: evaluation and checkpoints between epochs are not training."""

    training_seconds: float = 0.0
    epochs_completed: int = 0


def _progress_callback(
    reporter: ProgressReporter, clock: _TrainingClock, batch_size: int, report_every: int, validation_reviews: int
) -> TrainerCallback:
    """Trainer hooks that turn the Trainer's progress into our events and honour stop requests."""
    from transformers import TrainerCallback

    class ReportProgress(TrainerCallback):
        def __init__(self) -> None:
            self._epoch_started = 0.0
            self._train_loss: float | None = None
            self._scored = 0
            self._scoring_started = 0.0

        def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # Validation at the end of each epoch, one call per batch of reviews scored.
            if not self._scored:
                self._scoring_started = time.perf_counter()
            self._scored = min(self._scored + args.per_device_eval_batch_size, validation_reviews)
            elapsed = time.perf_counter() - self._scoring_started
            eta = elapsed / self._scored * (validation_reviews - self._scored) if elapsed > 0 else None
            reporter.phase("validation", self._scored, validation_reviews, eta)

        def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._epoch_started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step = state.global_step
            if step % report_every and step != state.max_steps:
                return
            reporter.check_stop()
            elapsed = clock.training_seconds + time.perf_counter() - self._epoch_started
            reporter.step(
                step,
                state.max_steps,
                eta_seconds=elapsed / step * (state.max_steps - step),
                samples_per_second=step * batch_size / elapsed if elapsed > 0 else None,
            )

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            clock.training_seconds += time.perf_counter() - self._epoch_started
            clock.epochs_completed += 1

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
            # With logging_strategy="epoch" the Trainer logs the epoch's mean training loss just before evaluating.
            if logs and "loss" in logs:
                self._train_loss = logs["loss"]

        def on_evaluate(
            self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kwargs: Any
        ) -> None:
            self._scored = 0
            metrics = metrics or {}
            reporter.epoch(
                epoch=round(state.epoch or 0),
                step=state.global_step,
                train_loss=float(self._train_loss) if self._train_loss is not None else float("nan"),
                validation_loss=float(metrics["eval_loss"]),
                validation_accuracy=float(metrics["eval_accuracy"]),
                validation_f1=float(metrics["eval_f1"]),
            )
            reporter.check_stop()

    return ReportProgress()


def release_compiled_models() -> None:
    """Drop what torch.compile holds (graphs, CUDA graph memory pools) once a run is over, so a worker
    that trains many runs does not keep every earlier model's compiled state and GPU memory."""
    import sys

    if "torch._dynamo" in sys.modules:
        import torch

        torch.compiler.reset()


def _eager_if(condition: bool) -> Any:
    """Run a compiled model eagerly inside the block: scoring a few thousand reviews once costs less
    eagerly than compiling an inference graph for it (another graph per grad mode)."""
    import contextlib

    import torch

    return torch.compiler.set_stance("force_eager") if condition else contextlib.nullcontext()


def _eager_evaluation_trainer() -> type:
    from transformers import Trainer

    class EagerEvaluationTrainer(Trainer):
        """A Trainer whose per-epoch validation runs the compiled model eagerly (see `_eager_if`)."""

        def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
            with _eager_if(True):
                return super().evaluate(*args, **kwargs)

    return EagerEvaluationTrainer


def _validation_metrics(prediction: Any) -> dict[str, float]:
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    metrics = classification_metrics(prediction.label_ids.tolist(), np.argmax(logits, axis=-1).tolist())
    return {"accuracy": metrics["accuracy"], "f1": metrics["f1"]}


def fit_transformer(
    config: TrainConfig,
    data: SplitData,
    staging: Path,
    reporter: ProgressReporter,
    model_override: ModelFactory | None = None,
    compile_mode: str | None = None,
    *,
    unlabelled_texts: Sequence[str] | None = None,
) -> FitOutcome:
    """Fine-tune, evaluate on validation each epoch, score test once, and save model and tokenizer into `staging`.

    `compile_mode` is one of COMPILE_MODES (None reads TRAIN_TORCH_COMPILE); it changes speed, not the maths.
    With ``config.mlm_steps`` the encoder is first adapted on `unlabelled_texts` (workers/ml/domain.py).
    """
    from transformers import (
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from workers.ml import FitOutcome

    device_name, precision = describe_device()
    compile_mode = compile_mode_for(compile_mode, on_gpu=precision is not None)
    set_seed(config.seed)
    adaptation = None
    if config.mlm_steps:
        from workers.ml.domain import adapt_encoder, transplant_encoder

        if model_override is not None:
            raise ValueError("Domain adaptation (mlm_steps) loads the base model by name; it cannot adapt a model_override.")
        adaptation, adapted = adapt_encoder(config, unlabelled_texts or [], staging.parent, reporter, precision=precision)
        reporter.check_stop()
        set_seed(config.seed)
    model, tokenizer = model_override(len(LABEL_NAMES)) if model_override else load_base_model(config.base_model)
    if adaptation is not None:
        transplant_encoder(adapted, model)
        del adapted
    model.config.id2label = dict(LABEL_NAMES)
    model.config.label2id = {name: label for label, name in LABEL_NAMES.items()}
    if compile_mode != "off":
        # In place, so the module keeps its class and parameter names for the Trainer and save_pretrained.
        # dynamic=True: batches padded to their own length would otherwise compile once per width.
        model.compile(mode=None if compile_mode == "default" else compile_mode, dynamic=True)
        device_name += f", torch.compile {compile_mode}"

    started = time.perf_counter()
    encode = partial(
        encode_texts, tokenizer, max_length=config.max_length, truncation=config.truncation, lowercase=config.lowercase
    )
    train_ids = encode([example.text for example in data.train])
    validation_ids = encode([example.text for example in data.validation])
    reporter.log(
        f"Tokenised {len(train_ids) + len(validation_ids)} reviews in {time.perf_counter() - started:.1f} s "
        f"(median {statistics.median(len(ids) for ids in train_ids):.0f} tokens, {config.truncation} truncation "
        f"to {config.max_length})."
    )
    reporter.check_stop()

    # Under torchrun each of WORLD_SIZE processes takes its share of every epoch (DistributedDataParallel).
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    total_steps = config.epochs * -(-len(train_ids) // (config.batch_size * processes))
    # Poll for cancellation about every 10 steps, each step on tiny runs, so a stop request is honoured promptly.
    report_every = max(1, min(10, total_steps // 20))
    early_stopping = config.early_stopping_patience is not None
    # The Trainer needs a folder even when it saves nothing; early stopping keeps its best checkpoint there.
    clock = _TrainingClock()
    loader_workers = _loader_workers(on_gpu=precision is not None)
    checkpoints = Path(tempfile.mkdtemp(prefix=f"{staging.name}.checkpoints-", dir=staging.parent))
    try:
        arguments = TrainingArguments(
            output_dir=str(checkpoints),
            per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=config.batch_size * 2,
            num_train_epochs=config.epochs,
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            warmup_steps=config.warmup_ratio,
            seed=config.seed,
            bf16=precision == "bf16",
            fp16=precision == "fp16",
            use_cpu=precision is None,
            train_sampling_strategy="group_by_length",
            eval_strategy="epoch",
            logging_strategy="epoch",
            save_strategy="best" if early_stopping else "no",
            save_only_model=True,
            load_best_model_at_end=early_stopping,
            metric_for_best_model="eval_loss" if early_stopping else None,
            greater_is_better=False if early_stopping else None,
            report_to="none",
            disable_tqdm=True,
            dataloader_pin_memory=precision is not None,
            # On a GPU, collating batches on the main thread left it idle for a quarter of each epoch
            # (all-MiniLM-L6-v2 on an H200); on the CPU, workers would only take cores from the model.
            dataloader_num_workers=loader_workers,
            # Workers started once, not again for every epoch and every validation pass.
            dataloader_persistent_workers=loader_workers > 0,
            # The Trainer's NaN filter reads each step's loss on the host, which makes the CPU wait for
            # the GPU every step; a small model on a fast GPU then runs at the speed of the slower of the two
            # in turn instead of both at once. Epoch losses are logged as means either way.
            logging_nan_inf_filter=False,
        )
        callbacks = [_progress_callback(reporter, clock, config.batch_size, report_every, len(validation_ids))]
        if early_stopping and config.early_stopping_patience is not None:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
        trainer = (_eager_evaluation_trainer() if compile_mode != "off" else Trainer)(
            model=model,
            args=arguments,
            train_dataset=_EncodedReviews(train_ids, [example.label for example in data.train]),
            eval_dataset=_EncodedReviews(validation_ids, [example.label for example in data.validation]),
            processing_class=tokenizer,
            # Multiples of 8 let GPU tensor cores work on whole tiles; CUDA graphs are recorded once per
            # batch width, so there widths come in steps of 32 (eight graphs at 256 tokens).
            data_collator=DataCollatorWithPadding(
                tokenizer, pad_to_multiple_of=(32 if compile_mode == "reduce-overhead" else 8) if precision else None
            ),
            compute_metrics=_validation_metrics,
            callbacks=callbacks,
        )
        # Our progress events replace the Trainer's printed log lines.
        trainer.remove_callback(PrinterCallback)
        spread = (
            f" in each of {arguments.world_size} processes (DistributedDataParallel, {arguments.parallel_mode.value})"
            if arguments.world_size > 1
            else ""
        )
        loaders = f", {loader_workers} data-loader processes" if loader_workers else ""
        reporter.log(f"Training on {device_name}: {len(train_ids)} reviews, {total_steps} steps{spread}{loaders}.")
        trainer.train()
    finally:
        shutil.rmtree(checkpoints, ignore_errors=True)
    # Accelerate wraps forward in mixed-precision autocast for training; unwrapping it lets the test
    # split be scored in float32, exactly as the predictor will score it after reloading.
    model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    if early_stopping and clock.epochs_completed < config.epochs:
        reporter.log(f"Early stopping after epoch {clock.epochs_completed}; kept the weights with the lowest validation loss.")
    reporter.check_stop()

    reporter.log(f"Evaluating on the test split ({len(data.test)} reviews).")
    test_ids = encode([example.text for example in data.test])
    scoring_started = time.perf_counter()

    def scored(done: int) -> None:
        elapsed = time.perf_counter() - scoring_started
        reporter.phase("test", done, len(test_ids), elapsed / done * (len(test_ids) - done) if done else None)

    with _eager_if(compile_mode != "off"):
        probabilities = predict_probabilities(
            model, tokenizer, test_ids, batch_size=config.batch_size * 2, device=next(model.parameters()).device,
            on_batch=scored,
        )  # fmt: skip
    predicted = probabilities.argmax(axis=1).tolist()
    model.save_pretrained(staging)
    tokenizer.model_input_names = model_input_names(model)
    tokenizer.save_pretrained(staging)
    training_seconds = clock.training_seconds
    return FitOutcome(
        metrics=classification_metrics([example.label for example in data.test], predicted),
        test_predictions=[
            (example.review_id, example.label, label, float(row[label]))
            for example, label, row in zip(data.test, predicted, probabilities)
        ],
        device=device_name,
        train_samples_per_second=clock.epochs_completed * len(train_ids) / training_seconds if training_seconds else None,
        extra_hyperparameters=adaptation.hyperparameters() if adaptation is not None else {},
    )
