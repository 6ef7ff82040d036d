"""Domain adaptation: continue pre-training a run's base encoder with masked-language modelling (MLM) on the
platform's unlabelled reviews before it is fine-tuned (Gururangan et al. 2020, "Don't Stop Pretraining").

A transformer run with ``mlm_steps`` > 0 loads its base model as ``AutoModelForMaskedLM`` (safetensors only,
no remote code), trains it for that many optimiser steps on batches of unlabelled reviews encoded exactly as
fine-tuning encodes them (the run's max length, truncation and lowercasing), with 15 % of the tokens masked
(``DataCollatorForLanguageModeling``). Fine-tuning then loads ``AutoModelForSequenceClassification`` from the
base model as usual and takes the adapted encoder's weights (`transplant_encoder`), so it starts from the
adapted encoder; the pooler, which MLM neither uses nor trains (BERT's MLM model has none), keeps its
pre-trained weights instead of being initialised afresh as it would be if the classifier were loaded from a
saved MLM checkpoint. Nothing is written to disk.

Choices, stated once:
- A base model saved without its MLM head (sentence-transformers checkpoints such as all-MiniLM-L6-v2, or any
  model saved as a classifier) gets a freshly initialised head. BERT-style heads tie their output projection
  to the word embeddings, so only the small transform layer and the output bias are new; adaptation goes on,
  the run log says so, and the manifest records ``mlm_head: "initialised fresh"``.
- A run that asks for adaptation when there is no unlabelled review fails before any training, with a
  message saying how to fix it (import unlabelled reviews, or set mlm_steps to 0): skipping silently would
  register a model whose settings claim an adaptation that never happened.
- The learning rate is fixed (MLM_LEARNING_RATE, with a 6 % warmup); the run's learning rate is for fine-tuning.

torch and transformers are imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.ml.base_models import SAFE_LOADING, BaseModelUnavailable, resolve_base_model
from workers.ml.config import TrainConfig

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

    from workers.ml import ProgressReporter

# Devlin et al. 2019's masking rate; the collator replaces 80 % of the masked tokens by [MASK], 10 % by a random one.
MLM_PROBABILITY = 0.15
# Gururangan et al. used larger batches at a higher rate; 5e-5 is the usual rate for continued BERT pre-training
# at fine-tuning batch sizes.
MLM_LEARNING_RATE = 5e-5
MLM_WARMUP = 0.06
PHASE = "adaptation"
FRESH_HEAD = "initialised fresh"
PRETRAINED_HEAD = "pre-trained"


@dataclass
class Adaptation:
    """What domain adaptation did, for the log, the manifest and the model card."""

    steps: int
    reviews_used: int
    head: str
    mean_loss: float | None
    seconds: float

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "mlm_reviews_used": self.reviews_used,
            "mlm_head": self.head,
            "mlm_learning_rate": MLM_LEARNING_RATE,
            "mlm_probability": MLM_PROBABILITY,
            "mlm_mean_loss": round(self.mean_loss, 4) if self.mean_loss is not None else None,
            "mlm_seconds": round(self.seconds, 1),
        }


def reviews_wanted(config: TrainConfig, *, processes: int = 1) -> int:
    """How many unlabelled reviews a run reads at most: its cap, and never more than its steps can see once."""
    seen = config.mlm_steps * config.batch_size * max(1, processes)
    return min(seen, config.mlm_reviews) if config.mlm_reviews is not None else seen


def pick_reviews(review_ids: Sequence[int], config: TrainConfig, *, processes: int = 1) -> list[int]:
    """The unlabelled reviews a run adapts on: a seeded sample of `review_ids` (all of them when few enough)."""
    wanted = reviews_wanted(config, processes=processes)
    ordered = sorted(review_ids)
    if wanted >= len(ordered):
        return ordered
    return sorted(random.Random(config.seed).sample(ordered, wanted))


def adaptation_problems(config: TrainConfig, unlabelled_texts: Sequence[str] | None) -> list[str]:
    """Why a run cannot adapt as asked (empty when it can, or does not ask)."""
    if config.kind != "transformer" or not config.mlm_steps or unlabelled_texts:
        return []
    return [
        f"mlm_steps: domain adaptation asks for {config.mlm_steps} masked-language-modelling steps, but there are no "
        "unlabelled reviews to pre-train on (reviews without a gold label that are not in the run's snapshot). "
        "Import unlabelled reviews (IMDb's unsupervised split has 50,000) or set mlm_steps to 0."
    ]


def adapt_encoder(
    config: TrainConfig,
    texts: Sequence[str],
    work_dir: Path,
    reporter: ProgressReporter,
    *,
    precision: str | None,
) -> tuple[Adaptation, PreTrainedModel]:
    """Continue pre-training `config.base_model` with MLM on `texts` (the Trainer's scratch folder goes in
    `work_dir` and is removed); returns what was done and the adapted masked-language model.

    Progress goes out as the "adaptation" phase, so a stop request is honoured every few steps.
    """
    import torch
    from transformers import (
        AutoModelForMaskedLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    from workers.ml.encoding import encode_texts

    location = resolve_base_model(config.base_model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=False)
        model, loading = AutoModelForMaskedLM.from_pretrained(
            location, dtype=torch.float32, output_loading_info=True, **SAFE_LOADING
        )
    except (OSError, ValueError, KeyError):
        raise BaseModelUnavailable(
            f"The base model {config.base_model!r} could not be loaded for masked-language modelling: domain "
            "adaptation needs an encoder architecture that transformers can load with a masked-language-modelling "
            "head (BERT, RoBERTa, DistilBERT, DeBERTa, ELECTRA...), saved with safetensors weights. Set mlm_steps to 0 "
            "to fine-tune it without adaptation."
        ) from None
    if tokenizer.mask_token_id is None:
        raise ValueError(
            f"The tokenizer of {config.base_model!r} has no mask token, so masked-language modelling cannot run: "
            "set mlm_steps to 0."
        )
    missing = list(loading.get("missing_keys") or [])
    # Only weights outside the encoder are the head; a missing encoder weight means a different model altogether.
    prefix = model.base_model_prefix
    head_missing = [key for key in missing if not key.startswith(prefix + ".")]
    if len(head_missing) < len(missing):
        raise BaseModelUnavailable(
            f"The base model {config.base_model!r} lacks encoder weights ({len(missing) - len(head_missing)} missing) "
            "when loaded for masked-language modelling: set mlm_steps to 0."
        )
    head = FRESH_HEAD if head_missing else PRETRAINED_HEAD
    if head_missing:
        reporter.log(
            f"Domain adaptation: {config.base_model} has no masked-language-modelling head weights "
            f"({', '.join(sorted(head_missing)[:4])}{'...' if len(head_missing) > 4 else ''}), so the head is "
            "initialised fresh; its output layer shares the word embeddings, so only its small transform is new."
        )

    started = time.perf_counter()
    encoded = encode_texts(
        tokenizer, list(texts), max_length=config.max_length, truncation=config.truncation, lowercase=config.lowercase
    )
    reporter.log(
        f"Domain adaptation: {config.mlm_steps} masked-language-modelling steps on {len(encoded)} unlabelled reviews "
        f"(median {statistics.median(len(ids) for ids in encoded):.0f} tokens, {MLM_PROBABILITY:.0%} masked, "
        f"learning rate {MLM_LEARNING_RATE:g})."
    )
    reporter.phase(PHASE, 0, config.mlm_steps, None)
    checkpoints = Path(tempfile.mkdtemp(prefix="adaptation-", dir=work_dir))
    losses: list[float] = []
    try:
        arguments = TrainingArguments(
            output_dir=str(checkpoints),
            max_steps=config.mlm_steps,
            per_device_train_batch_size=config.batch_size,
            learning_rate=MLM_LEARNING_RATE,
            weight_decay=config.weight_decay,
            warmup_steps=MLM_WARMUP,
            seed=config.seed,
            bf16=precision == "bf16",
            fp16=precision == "fp16",
            use_cpu=precision is None,
            save_strategy="no",
            logging_strategy="steps",
            logging_steps=max(1, config.mlm_steps // 20),
            report_to="none",
            disable_tqdm=True,
            dataloader_pin_memory=precision is not None,
            logging_nan_inf_filter=False,
        )
        trainer = Trainer(
            model=model,
            args=arguments,
            train_dataset=_Unlabelled(encoded),
            processing_class=tokenizer,
            data_collator=DataCollatorForLanguageModeling(
                tokenizer, mlm=True, mlm_probability=MLM_PROBABILITY, pad_to_multiple_of=8 if precision else None
            ),
            callbacks=[_progress(reporter, config.mlm_steps, losses)],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
        reporter.check_stop()
        model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    finally:
        shutil.rmtree(checkpoints, ignore_errors=True)
    seconds = time.perf_counter() - started
    adaptation = Adaptation(
        steps=config.mlm_steps,
        reviews_used=len(encoded),
        head=head,
        mean_loss=statistics.fmean(losses) if losses else None,
        seconds=seconds,
    )
    loss = f", mean masked-token loss {adaptation.mean_loss:.3f}" if adaptation.mean_loss is not None else ""
    reporter.log(f"Domain adaptation done in {seconds:.1f} s{loss}; fine-tuning starts from the adapted encoder.")
    return adaptation, model


class _Unlabelled:
    """Unpadded token ids; the MLM collator pads each batch, masks it and builds its labels."""

    def __init__(self, input_ids: list[list[int]]) -> None:
        self.input_ids = input_ids

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.input_ids[index]}


def _progress(reporter: ProgressReporter, total: int, losses: list[float]) -> TrainerCallback:
    from transformers import TrainerCallback

    report_every = max(1, min(10, total // 20))

    class ReportAdaptation(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step = state.global_step
            if step % report_every and step != state.max_steps:
                return
            elapsed = time.perf_counter() - self._started
            # phase() checks for a stop request first, so cancelling is honoured every few steps.
            reporter.phase(PHASE, step, state.max_steps, elapsed / step * (state.max_steps - step))

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    return ReportAdaptation()


def transplant_encoder(adapted: PreTrainedModel, classifier: PreTrainedModel) -> None:
    """Give `classifier` (freshly loaded from the base model) the encoder weights of the `adapted` MLM model.

    Every adapted encoder weight must land; the classifier may keep weights the MLM model has none of (its
    pooler). Anything else means the two are not the same encoder, which is refused.
    """
    source = adapted.base_model.state_dict()
    outcome = classifier.base_model.load_state_dict(source, strict=False)
    unexpected = list(outcome.unexpected_keys)
    if unexpected or not source:
        raise ValueError(
            "The adapted encoder does not fit the classifier built from the same base model "
            f"({len(unexpected)} weights have no place); set mlm_steps to 0."
        )
