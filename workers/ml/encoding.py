"""Turning texts into a transformer's inputs, and scoring inputs encoded that way.

Training (`workers.ml.transformer`, `workers.ml.domain`), prediction (`workers.ml.inference`) and the
hub import (`workers.ml.hub`) all encode texts here, so a model is read the way it was trained.
torch and transformers are imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from workers.ml.data import LABEL_NAMES, clean_text

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# Tokenising a whole split at once would hold every untruncated review's tokens in memory.
_TOKENIZE_CHUNK = 2048


def special_tokens_around(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The special tokens `tokenizer` puts before and after one text: ([CLS], [SEP]) for BERT-style
    tokenizers, (<s>, </s>) for RoBERTa-style ones, whatever its own template says.

    A tokenizer with ``build_inputs_with_special_tokens`` (the Python ones) is asked directly; a fast one
    applies its template inside the Rust backend, so a one-token text is encoded with and without special
    tokens and the difference read off. Either way the count is checked against the tokenizer's own
    ``num_special_tokens_to_add``.
    """
    cached = getattr(tokenizer, "_sentiment_special_tokens", None)
    if cached is not None:
        return cached
    build = getattr(tokenizer, "build_inputs_with_special_tokens", None)
    marker = [tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0]
    if build is not None:
        wrapped, content = list(build(marker)), marker
    else:
        wrapped = tokenizer("x", add_special_tokens=True, return_attention_mask=False)["input_ids"]
        content = tokenizer("x", add_special_tokens=False, return_attention_mask=False)["input_ids"]
    at = next((i for i in range(len(wrapped) - len(content) + 1) if wrapped[i : i + len(content)] == content), None)
    if at is None or len(wrapped) - len(content) != tokenizer.num_special_tokens_to_add(pair=False):
        raise ValueError(f"Cannot tell where {type(tokenizer).__name__} puts its special tokens around a text.")
    around = (list(wrapped[:at]), list(wrapped[at + len(content) :]))
    tokenizer._sentiment_special_tokens = around
    return around


def truncate_content(content: Sequence[int], budget: int, strategy: str) -> list[int]:
    """Cut a text's tokens (without special tokens) to `budget`.

    "head" keeps the first tokens; "head_tail" keeps the first quarter and the last three quarters of the
    budget, where reviews tend to state their verdict (Sun et al. 2019, "How to Fine-Tune BERT for Text
    Classification?").
    """
    if len(content) <= budget:
        return list(content)
    if strategy == "head_tail":
        head = budget // 4
        return list(content[:head]) + list(content[len(content) - (budget - head) :])
    return list(content[:budget])


def encode_texts(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], *, max_length: int, truncation: str, lowercase: bool
) -> list[list[int]]:
    """Clean, tokenise (batched, unpadded), truncate and wrap texts in the tokenizer's special tokens.

    The text is tokenised without special tokens and cut to what `max_length` leaves once the tokenizer's
    own special tokens are counted, so head+tail truncation keeps [CLS]/[SEP] or <s>/</s> as the model
    was pre-trained with, and a review that happens to contain "[SEP]" is cut like any other.
    """
    prefix, suffix = special_tokens_around(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    encoded: list[list[int]] = []
    for start in range(0, len(texts), _TOKENIZE_CHUNK):
        chunk = [clean_text(text, lowercase) for text in texts[start : start + _TOKENIZE_CHUNK]]
        # No truncation here: head_tail needs the end of each review; `verbose=False` silences the
        # warning about sequences longer than the model's limit, which we cut right after.
        batch = tokenizer(
            chunk, add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False, verbose=False
        )
        encoded.extend(prefix + truncate_content(ids, budget, truncation) + suffix for ids in batch["input_ids"])
    return encoded


def model_input_names(model: PreTrainedModel) -> list[str]:
    """What a tokenizer saved with `model` should hand it: ``token_type_ids`` only where its forward takes them.

    The platform feeds one text per input, so token types would be all zeros, which is what every model
    that has them assumes when none are given: training and inference never pass them. A tokenizer
    saved for others (the export, `transformers.pipeline`) must not hand them to a model such as
    DistilBERT, whose forward refuses them.
    """
    import inspect

    accepted = inspect.signature(model.forward).parameters
    return [name for name in ("input_ids", "token_type_ids", "attention_mask") if name in accepted]


def predict_probabilities(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    input_ids: Sequence[list[int]],
    *,
    batch_size: int,
    device: torch.device,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """[p_negative, p_positive] per text, in the order given; ``on_batch`` hears how many are done after each batch.

    Texts are batched by length so that short reviews are not padded to the longest one.
    """
    import torch
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    order = sorted(range(len(input_ids)), key=lambda index: len(input_ids[index]))
    probabilities = np.zeros((len(input_ids), len(LABEL_NAMES)), dtype=np.float64)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            batch = collate([{"input_ids": input_ids[index]} for index in indices])
            logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
            probabilities[indices] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            if on_batch is not None:
                on_batch(start + len(indices))
    return probabilities


