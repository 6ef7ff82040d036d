"""Loading a published artifact folder and scoring texts with it (inference), fast on a CPU.

Only safetensors and JSON are read: no pickle, no code shipped with a model.

Where the time goes on a CPU without int8 dot-product instructions (AVX2, no VNNI) is the encoder's
matrix multiplications, so speed comes from doing less of them (bench/predict.py measures each step):

- reviews are sorted by length and batched, so a batch pads only to its own longest review, and a
  batch that needs no padding (one review always) skips the attention mask;
- on a CPU the encoder's linear layers can run in int8 (`quantize`: dynamic quantisation with one scale
  per output channel, which changed about 2% of the answers of a fine-tuned MiniLM, mostly unsure ones,
  and left accuracy within 0.4 points, for 1.3x the speed; one scale per tensor was faster still but
  changed twice as many answers);
- a text seen before is answered from a small cache instead of the model (`cache_size`);
- `ScreenedModel` lets a TF-IDF model answer the reviews it is very sure of, so that only the rest pay
  for the transformer; every answer says which model gave it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workers.ml.artifacts import FORMAT_VERSION, ArtifactError, read_manifest, verify_artifacts
from workers.ml.data import LABEL_NAMES, Example
from workers.ml.metrics import classification_metrics

if TYPE_CHECKING:
    from workers.ml import ProgressCallback, Score
    from workers.ml.tfidf import TfidfScorer

logger = logging.getLogger(__name__)

# Reviews per forward pass on a CPU: batches sorted by length waste little on padding, and of 4, 8, 16
# and 32 reviews per batch, 8 was the fastest on two cores; bigger batches only hold more memory.
CPU_BATCH_SIZE = 8


class PredictionCache:
    """The last `size` texts' probabilities, keyed by a digest of the text (a thread-safe LRU)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rows: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, key: bytes) -> np.ndarray | None:
        with self._lock:
            row = self._rows.get(key)
            if row is not None:
                self._rows.move_to_end(key)
            return row

    def put(self, key: bytes, row: np.ndarray) -> None:
        with self._lock:
            self._rows[key] = row
            self._rows.move_to_end(key)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


def _answer(row: np.ndarray) -> dict[str, Any]:
    return {"label": int(row.argmax()), "confidence": float(row.max()), "probabilities": [float(row[0]), float(row[1])]}


class LoadedModel:
    """A model ready to predict, with the manifest it was published with."""

    def __init__(self, path: Path, manifest: dict[str, Any], cache_size: int = 0) -> None:
        self.path = path
        self.manifest = manifest
        self.kind: str = manifest["kind"]
        self.cache = PredictionCache(cache_size) if cache_size > 0 else None

    def probabilities(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    def cached_probabilities(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """[p_negative, p_positive] per text; texts seen before (and repeats within `texts`) are computed once."""
        if self.cache is None:
            return self.probabilities(texts, batch_size)
        keys = [PredictionCache.key(text) for text in texts]
        rows = np.zeros((len(texts), len(LABEL_NAMES)), dtype=np.float64)
        missing: dict[bytes, list[int]] = {}
        for index, key in enumerate(keys):
            row = self.cache.get(key)
            if row is None:
                missing.setdefault(key, []).append(index)
            else:
                rows[index] = row
        if missing:
            computed = self.probabilities([texts[indices[0]] for indices in missing.values()], batch_size)
            for (key, indices), row in zip(missing.items(), computed):
                rows[indices] = row
                self.cache.put(key, row.copy())
        return rows

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
        """Label (0 negative, 1 positive), its confidence and both class probabilities, per text in order."""
        if not texts:
            return []
        return [_answer(row) for row in self.cached_probabilities(texts, batch_size)]


class TransformerModel(LoadedModel):
    def __init__(
        self, path: Path, manifest: dict[str, Any], device: str | None, *, cache_size: int = 0, quantize: bool = False
    ) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        super().__init__(path, manifest, cache_size)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            path, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
        ).to(self.device)
        self.model.eval()
        self.quantized = quantize and self.device.type == "cpu" and self._quantize_encoder()
        # Forward passes may run in several threads at once, but a fast tokenizer changes its own settings
        # on a call that asks for other ones, and then fails in a thread that uses it at the same moment.
        self._tokenizer_lock = threading.Lock()

    def _quantize_encoder(self) -> bool:
        """Run the encoder's linear layers in int8; the embeddings and the classifier head stay in float32."""
        import torch

        encoder = getattr(getattr(self.model, "base_model", None), "encoder", None)
        try:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        except ImportError:
            logger.warning("This torch build cannot quantise dynamically; %s runs in float32.", self.path)
            return False
        if encoder is None:
            logger.warning("%s has no encoder to quantise; it runs in float32.", self.path)
            return False
        with warnings.catch_warnings():
            # torch 2.13 marks eager-mode quantisation as deprecated in favour of torchao; it still works.
            warnings.simplefilter("ignore")
            quantize_dynamic(encoder, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
        return True

    def probabilities(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        from workers.ml.encoding import encode_texts

        with self._tokenizer_lock:
            input_ids = encode_texts(
                self.tokenizer,
                texts,
                max_length=self.manifest["max_length"],
                truncation=self.manifest["truncation"],
                lowercase=self.manifest["lowercase"],
            )
        if self.device.type == "cpu":
            batch_size = min(batch_size, CPU_BATCH_SIZE)
        return self._forward(input_ids, batch_size)

    def _forward(self, input_ids: list[list[int]], batch_size: int) -> np.ndarray:
        """[p_negative, p_positive] per text, the texts batched in order of length."""
        import torch

        order = sorted(range(len(input_ids)), key=lambda index: len(input_ids[index]))
        probabilities = np.zeros((len(input_ids), len(LABEL_NAMES)), dtype=np.float64)
        pad = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                indices = order[start : start + batch_size]
                lengths = [len(input_ids[index]) for index in indices]
                width = lengths[-1]
                ids = np.full((len(indices), width), pad, dtype=np.int64)
                for row, index in enumerate(indices):
                    ids[row, : lengths[row]] = input_ids[index]
                # A batch of equal lengths (always so for one text) needs no mask, and attention runs faster without.
                mask = None
                if lengths[0] != width:
                    mask = torch.from_numpy((np.arange(width) < np.array(lengths)[:, None]).astype(np.int64)).to(self.device)
                logits = self.model(input_ids=torch.from_numpy(ids).to(self.device), attention_mask=mask).logits
                probabilities[indices] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return probabilities


class TfidfModel(LoadedModel):
    def __init__(self, path: Path, manifest: dict[str, Any], *, cache_size: int = 0) -> None:
        from workers.ml.tfidf import TfidfScorer

        super().__init__(path, manifest, cache_size)
        self.scorer: TfidfScorer = TfidfScorer.load(path, lowercase=manifest["lowercase"])

    def probabilities(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        # The sparse featuriser is fastest on the whole list at once; batch_size matters only to transformers.
        return self.scorer.probabilities(texts)


class ScreenedModel:
    """A cheap model answers the texts it is at least `min_confidence` sure of; the main model answers the rest.

    Each answer carries ``"screened": True`` when the screen gave it, so callers can record which model
    answered. With a TF-IDF screen in front of a transformer most reviews never reach the transformer,
    at the accuracy bench/predict.py measures for the chosen threshold.
    """

    def __init__(self, model: LoadedModel, screen: LoadedModel, min_confidence: float) -> None:
        if not 0.5 < min_confidence <= 1.0:
            raise ValueError(f"The screen's minimum confidence must be above 0.5 and at most 1 (got {min_confidence}).")
        self.model = model
        self.screen = screen
        self.min_confidence = min_confidence

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
        if not texts:
            return []
        screened = self.screen.cached_probabilities(texts, batch_size)
        sure = screened.max(axis=1) >= self.min_confidence
        answers: list[dict[str, Any]] = [{**_answer(row), "screened": True} for row in screened]
        unsure = np.flatnonzero(~sure).tolist()
        if unsure:
            rows = self.model.cached_probabilities([texts[index] for index in unsure], batch_size)
            for index, row in zip(unsure, rows):
                answers[index] = {**_answer(row), "screened": False}
        return answers


def load_model(
    path: Path, *, device: str | None = None, verify: bool = True, cache_size: int = 0, quantize: bool = False
) -> LoadedModel:
    """Load an artifact folder, refusing unknown formats and kinds, and (by default) files whose checksums fail.

    `device` applies to transformers: "cpu", "cuda", "cuda:1"...; the default uses a GPU when there is one.
    `cache_size` keeps the answers for that many recent texts (0: none), so a repeated text costs no model time.
    `quantize` runs a transformer's encoder in int8 on a CPU (ignored on a GPU and for TF-IDF).
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path} uses artifact format {manifest.get('format_version')!r}; this code reads format {FORMAT_VERSION}."
        )
    if manifest.get("label_map") != {str(label): name for label, name in LABEL_NAMES.items()}:
        raise ArtifactError(f"{path} has an unexpected label map {manifest.get('label_map')!r}.")
    if verify:
        problems = verify_artifacts(path)
        if problems:
            raise ArtifactError(f"{path} failed its integrity check: " + " ".join(problems))
    kind = manifest.get("kind")
    if kind == "transformer":
        return TransformerModel(path, manifest, device, cache_size=cache_size, quantize=quantize)
    if kind == "tfidf":
        return TfidfModel(path, manifest, cache_size=cache_size)
    if kind == "ensemble":
        from workers.ml.ensemble import EnsembleModel

        return EnsembleModel(path, manifest, device=device, cache_size=cache_size, quantize=quantize)
    raise ArtifactError(
        f"{path} holds a model of unknown kind {kind!r}; this code loads transformer, tfidf and ensemble models."
    )


def evaluate(
    model: Path | LoadedModel,
    examples: Sequence[Example],
    *,
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
) -> tuple[dict[str, Any], list[Score]]:
    """Metrics and (review_id, gold, predicted, confidence) rows for labelled examples.

    Step events go to `progress` after each chunk of reviews, so long evaluations show how far they are.
    """
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    chunk = max(batch_size, 512)
    predictions: list[Score] = []
    started = time.perf_counter()
    for start in range(0, len(examples), chunk):
        part = examples[start : start + chunk]
        results = loaded.predict([example.text for example in part], batch_size=batch_size)
        predictions.extend(
            (example.review_id, example.label, result["label"], result["confidence"]) for example, result in zip(part, results)
        )
        if progress is not None:
            rate = len(predictions) / max(time.perf_counter() - started, 1e-9)
            progress(
                {
                    "type": "step",
                    "step": len(predictions),
                    "total_steps": len(examples),
                    "eta_seconds": (len(examples) - len(predictions)) / rate,
                    "samples_per_second": rate,
                }
            )
    metrics = classification_metrics([row[1] for row in predictions], [row[2] for row in predictions])
    return metrics, predictions
