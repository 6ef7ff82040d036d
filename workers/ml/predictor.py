"""Loading a published artifact folder and predicting with it.

Only safetensors and JSON are read: no pickle, no code shipped with a model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workers.ml.artifacts import FORMAT_VERSION, ArtifactError, read_manifest, verify_artifacts
from workers.ml.data import LABEL_NAMES, Example
from workers.ml.metrics import classification_metrics

if TYPE_CHECKING:
    from workers.ml import Prediction, ProgressCallback
    from workers.ml.tfidf import TfidfScorer


class LoadedModel:
    """A model ready to predict, with the manifest it was published with."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.kind: str = manifest["kind"]

    def probabilities(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
        """Label (0 negative, 1 positive), its confidence and both class probabilities, per text in order."""
        if not texts:
            return []
        rows = self.probabilities(texts, batch_size)
        return [
            {"label": int(row.argmax()), "confidence": float(row.max()), "probabilities": [float(row[0]), float(row[1])]}
            for row in rows
        ]


class TransformerModel(LoadedModel):
    def __init__(self, path: Path, manifest: dict[str, Any], device: str | None) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        super().__init__(path, manifest)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            path, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
        ).to(self.device)
        self.model.eval()

    def probabilities(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        from workers.ml.transformer import encode_texts, predict_probabilities

        input_ids = encode_texts(
            self.tokenizer,
            texts,
            max_length=self.manifest["max_length"],
            truncation=self.manifest["truncation"],
            lowercase=self.manifest["lowercase"],
        )
        return predict_probabilities(self.model, self.tokenizer, input_ids, batch_size=batch_size, device=self.device)


class TfidfModel(LoadedModel):
    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        from workers.ml.tfidf import TfidfScorer

        super().__init__(path, manifest)
        self.scorer: TfidfScorer = TfidfScorer.load(path, lowercase=manifest["lowercase"])

    def probabilities(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        # The sparse featuriser is fastest on the whole list at once; batch_size matters only to transformers.
        return self.scorer.probabilities(texts)


def load_model(path: Path, *, device: str | None = None, verify: bool = True) -> LoadedModel:
    """Load an artifact folder, refusing unknown formats and kinds, and (by default) files whose checksums fail.

    `device` applies to transformers: "cpu", "cuda", "cuda:1"...; the default uses a GPU when there is one.
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
        return TransformerModel(path, manifest, device)
    if kind == "tfidf":
        return TfidfModel(path, manifest)
    raise ArtifactError(f"{path} holds a model of unknown kind {kind!r}; this code loads transformer and tfidf models.")


def evaluate(
    model: Path | LoadedModel,
    examples: Sequence[Example],
    *,
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
) -> tuple[dict[str, Any], list[Prediction]]:
    """Metrics and (review_id, gold, predicted, confidence) rows for labelled examples.

    Step events go to `progress` after each chunk of reviews, so long evaluations show how far they are.
    """
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    chunk = max(batch_size, 512)
    predictions: list[Prediction] = []
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
