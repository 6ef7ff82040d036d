"""Ensembles: versions trained on one snapshot combined into one model, with weights fit on its validation split.

**Method: logistic-regression stacking over the members' positive-class log-odds.** Each member gives
``z_i = log(p_i / (1 - p_i))`` for a review; the ensemble's probability is
``sigmoid(b + sum_i w_i * z_i)``, with ``w`` and ``b`` fit by a logistic regression on the validation
split, which no member's weights were fit on (a transformer only reports on it each epoch; a TF-IDF
run with C left empty picks its one regularisation strength there, a mild reuse the test split, never
seen by anyone before, is there to catch). Why this rather than a weighted average of probabilities with a grid-searched
weight: the members are calibrated very differently (a fine-tuned transformer is sure of nearly every
review, a TF-IDF model much less), and averaging probabilities lets the overconfident one decide alone,
while weights on log-odds rescale each member's confidence as well as its say, and the intercept
corrects a shared bias. It is also the same two or three numbers for any number of members, where a
grid grows with each. The regression is lightly regularised (C = 1) so correlated members cannot get
huge opposite weights from a few thousand reviews.

The artifact folder is an ordinary one (``manifest.json`` with every file's checksum, ``README.md``),
holding ``ensemble.json`` (the method, the weights and where each member lies) and each member's own
artifact folder under ``members/``, hard-linked where the filesystem allows: an ensemble is complete in
its folder, and copying, checking or moving it is the same as for any version. JSON and safetensors only.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workers.ml.artifacts import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    MODEL_CARD_NAME,
    file_digest,
    folder_size,
    staging_folder,
)
from workers.ml.data import LABEL_NAMES, Example
from workers.ml.metrics import classification_metrics
from workers.ml.inference import LoadedModel, load_model

if TYPE_CHECKING:
    from workers.ml import ProgressCallback, Score, StopCheck

ENSEMBLE_KIND = "ensemble"
SPEC_NAME = "ensemble.json"
MEMBERS_FOLDER = "members"
METHOD = "logistic regression stacking over the members' positive-class log-odds"
STACKING_C = 1.0
# Log-odds of a probability are taken after clipping it to [EPSILON, 1 - EPSILON]: a member that says 1.0
# gives a large but finite vote.
EPSILON = 1e-6
MEMBER_KINDS = ("transformer", "tfidf")
MIN_MEMBERS = 2


class EnsembleError(ValueError):
    """An ensemble that cannot be built or loaded, with a message saying why."""


@dataclass(frozen=True)
class MemberSource:
    """A member to build from: its model version id (recorded in the manifest) and artifact folder."""

    version_id: int
    path: Path


@dataclass
class EnsembleResult:
    metrics: dict[str, Any]
    test_predictions: list[Score]
    members: list[dict[str, Any]]
    intercept: float
    artifact_dir: Path
    artifact_size: int
    manifest: dict[str, Any]
    wall_seconds: float


def log_odds(positive: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(positive, dtype=np.float64), EPSILON, 1.0 - EPSILON)
    return np.log(clipped / (1.0 - clipped))


def combine(member_positive: np.ndarray, weights: Sequence[float], intercept: float) -> np.ndarray:
    """[p_negative, p_positive] per row of ``member_positive`` (one column per member's p_positive)."""
    score = log_odds(member_positive) @ np.asarray(weights, dtype=np.float64) + intercept
    positive = 1.0 / (1.0 + np.exp(-score))
    return np.column_stack([1.0 - positive, positive])


def fit_weights(member_positive: np.ndarray, labels: np.ndarray) -> tuple[list[float], float]:
    """The stacking weights and intercept, fit on (validation) reviews; refused when they hold one label only."""
    from sklearn.linear_model import LogisticRegression

    if len(set(labels.tolist())) < 2:
        raise EnsembleError(
            "The validation split holds only one label, so no weights can be fit on it: take a snapshot whose "
            "validation split has positive and negative reviews."
        )
    regression = LogisticRegression(C=STACKING_C, max_iter=1000)
    regression.fit(log_odds(member_positive), labels)
    return [float(weight) for weight in regression.coef_[0]], float(regression.intercept_[0])


def build_ensemble(
    members: Sequence[MemberSource],
    validation: Sequence[Example],
    test: Sequence[Example],
    output_dir: Path,
    *,
    lineage: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    device: str | None = None,
) -> EnsembleResult:
    """Score every member on validation and test, fit the weights on validation, measure on test, publish.

    ``output_dir`` must not exist yet (or be empty); it appears complete or not at all. Raises
    ``EnsembleError`` for fewer than two members, a member of another kind, or an empty split, and
    ``InterruptedError`` when ``should_stop`` asks it to stop.
    """
    started = time.perf_counter()
    if len(members) < MIN_MEMBERS:
        raise EnsembleError(f"An ensemble needs at least {MIN_MEMBERS} members; got {len(members)}.")
    if not validation or not test:
        raise EnsembleError("An ensemble needs reviews in the validation split (to fit its weights) and the test split.")
    loaded = [load_model(member.path, device=device) for member in members]
    for member, model in zip(members, loaded):
        if model.kind not in MEMBER_KINDS:
            raise EnsembleError(
                f"Model version {member.version_id} is a {model.kind} model; members must be {' or '.join(MEMBER_KINDS)} models."
            )
    done, total = 0, len(members) * (len(validation) + len(test))

    def score(model: LoadedModel, examples: Sequence[Example]) -> np.ndarray:
        nonlocal done
        positive = np.zeros(len(examples))
        for start in range(0, len(examples), 512):
            if should_stop is not None and should_stop():
                raise InterruptedError("The ensemble build was cancelled on request.")
            part = examples[start : start + 512]
            positive[start : start + len(part)] = model.probabilities([example.text for example in part], 32)[:, 1]
            done += len(part)
            if progress is not None:
                progress({"type": "step", "step": done, "total_steps": total})
        return positive

    validation_scores = np.column_stack([score(model, validation) for model in loaded])
    test_scores = np.column_stack([score(model, test) for model in loaded])
    validation_labels = np.array([example.label for example in validation])
    test_labels = np.array([example.label for example in test])
    weights, intercept = fit_weights(validation_scores, validation_labels)

    ensemble_test = combine(test_scores, weights, intercept)
    predicted = ensemble_test.argmax(axis=1)
    metrics = classification_metrics(test_labels.tolist(), predicted.tolist())
    validation_predicted = combine(validation_scores, weights, intercept).argmax(axis=1)
    metrics["validation"] = _summary(classification_metrics(validation_labels.tolist(), validation_predicted.tolist()))
    described: list[dict[str, Any]] = []
    for position, (member, model) in enumerate(zip(members, loaded)):
        described.append(
            {
                "position": position,
                "model_version_id": member.version_id,
                "kind": model.kind,
                "base_model": model.manifest.get("base_model"),
                "folder": f"{MEMBERS_FOLDER}/{position}-v{member.version_id}",
                "weight": weights[position],
                "validation": _summary(_member_metrics(validation_labels, validation_scores[:, position])),
                "test": _summary(_member_metrics(test_labels, test_scores[:, position])),
            }
        )
    metrics["members"] = [
        {"model_version_id": item["model_version_id"], "kind": item["kind"], **item["test"]} for item in described
    ]
    test_predictions: list[Score] = [
        (example.review_id, example.label, int(label), float(row.max()))
        for example, label, row in zip(test, predicted, ensemble_test)
    ]
    manifest = _publish(
        members,
        described,
        intercept,
        metrics,
        output_dir,
        lineage=lineage or {},
        data_sizes={"validation": len(validation), "test": len(test)},
    )
    return EnsembleResult(
        metrics=metrics,
        test_predictions=test_predictions,
        members=described,
        intercept=intercept,
        artifact_dir=output_dir,
        artifact_size=folder_size(output_dir),
        manifest=manifest,
        wall_seconds=time.perf_counter() - started,
    )


def _member_metrics(labels: np.ndarray, positive: np.ndarray) -> dict[str, Any]:
    return classification_metrics(labels.tolist(), (positive >= 0.5).astype(int).tolist())


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {name: metrics[name] for name in ("accuracy", "f1", "precision", "recall", "support")}


def _publish(
    members: Sequence[MemberSource],
    described: list[dict[str, Any]],
    intercept: float,
    metrics: dict[str, Any],
    output_dir: Path,
    *,
    lineage: dict[str, Any],
    data_sizes: dict[str, int],
) -> dict[str, Any]:
    output_dir = Path(output_dir)
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise FileExistsError(f"The artifact folder {output_dir} already exists; choose a new folder for each ensemble.")
    spec = {
        "method": METHOD,
        "feature": "log_odds",
        "epsilon": EPSILON,
        "intercept": intercept,
        "members": [
            {key: item[key] for key in ("position", "model_version_id", "kind", "folder", "weight")} for item in described
        ],
    }
    with staging_folder(output_dir) as staging:
        for member, item in zip(members, described):
            shutil.copytree(member.path, staging / item["folder"], copy_function=_link_or_copy)
        (staging / SPEC_NAME).write_text(json.dumps(spec, indent=2), encoding="utf-8")
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "kind": ENSEMBLE_KIND,
            "base_model": None,
            "label_map": {str(label): name for label, name in LABEL_NAMES.items()},
            "max_length": None,
            "truncation": None,
            "lowercase": None,
            "metrics": metrics,
            "epochs": [],
            "hyperparameters": {"kind": ENSEMBLE_KIND, "method": METHOD, "C": STACKING_C, "fitted_on": "validation"},
            "ensemble": {**spec, "members": described},
            "lineage": lineage,
            "data_sizes": data_sizes,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (staging / MODEL_CARD_NAME).write_text(model_card(manifest), encoding="utf-8")
        manifest["files"] = {
            path.relative_to(staging).as_posix(): {"sha256": file_digest(path), "bytes": path.stat().st_size}
            for path in sorted(staging.rglob("*"))
            if path.is_file() and path.relative_to(staging).as_posix() != MANIFEST_NAME
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        if output_dir.is_dir():
            output_dir.rmdir()
        os.replace(staging, output_dir)
    return manifest


def _link_or_copy(source: str, destination: str) -> str:
    """A hard link (no second copy of a transformer's weights) where the filesystem allows, else a copy."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
    return destination


def model_card(manifest: dict[str, Any]) -> str:
    metrics = manifest["metrics"]
    ensemble = manifest["ensemble"]
    [[tn, fp], [fn, tp]] = metrics["confusion_matrix"]
    rows = "\n".join(
        f"| {item['position']} | model version {item['model_version_id']} | {item['kind']} | {item['weight']:.4f} "
        f"| {item['validation']['accuracy']:.4f} | {item['test']['accuracy']:.4f} | {item['test']['f1']:.4f} |"
        for item in ensemble["members"]
    )
    lineage = "\n".join(f"| {key} | {value} |" for key, value in manifest["lineage"].items())
    return f"""# Sentiment model: ensemble of {len(ensemble['members'])} versions

Created {manifest['created_at']}. Labels: 0 = negative, 1 = positive.

## Method
{METHOD.capitalize()}: p(positive) = sigmoid({ensemble['intercept']:.4f} + sum of weight x log-odds of each member's
p(positive)). The weights were fit on the snapshot's validation split and measured once on its test split.

## Members
| # | version | kind | weight | validation accuracy | test accuracy | test F1 |
| --- | --- | --- | --- | --- | --- | --- |
{rows}

## Data lineage
| | |
| --- | --- |
{lineage or "| source | not recorded |"}

Reviews per split: {', '.join(f"{name} {count}" for name, count in manifest['data_sizes'].items())}.

## Test metrics (held-out test split)
| | |
| --- | --- |
{chr(10).join(f"| {name} | {metrics[name]:.4f} |" for name in ("accuracy", "precision", "recall", "f1", "f1_macro"))}
| support | {metrics['support']} |

## Confusion matrix (test split)
| | predicted negative | predicted positive |
| --- | --- | --- |
| gold negative | {tn} | {fp} |
| gold positive | {fn} | {tp} |

## Limitations
- Every member runs on every review: an ensemble with a transformer costs what the transformer costs, and more.
- The members' own limitations (truncation, word order) remain; the ensemble only weighs their votes.
- The weights fit one validation split; on other data the best mix may differ.
"""


class EnsembleModel(LoadedModel):
    """Loaded members and their weights; answers carry each member's p(positive) beside the ensemble's."""

    def __init__(
        self, path: Path, manifest: dict[str, Any], *, device: str | None = None, cache_size: int = 0, quantize: bool = False
    ) -> None:
        super().__init__(path, manifest, 0)
        try:
            spec = json.loads((Path(path) / SPEC_NAME).read_text(encoding="utf-8"))
            members = spec["members"]
            self.intercept = float(spec["intercept"])
            self.weights = [float(member["weight"]) for member in members]
            self.member_versions = [int(member["model_version_id"]) for member in members]
            self.member_kinds = [str(member["kind"]) for member in members]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise EnsembleError(f"{path}/{SPEC_NAME} cannot be read as an ensemble: {error}.") from None
        root = Path(path).resolve()
        self.members: list[LoadedModel] = []
        for member in members:
            folder = (root / str(member["folder"])).resolve()
            # The ensemble's own folder as a member would load itself again and again.
            if not folder.is_relative_to(root) or folder == root:
                raise EnsembleError(f"{path}/{SPEC_NAME} names a member folder outside the ensemble: {member['folder']!r}.")
            # The ensemble's own check already covered every member file (they are listed in its manifest).
            model = load_model(folder, device=device, verify=False, cache_size=cache_size, quantize=quantize)
            if model.kind not in MEMBER_KINDS:
                raise EnsembleError(f"{folder} holds a {model.kind} model; ensemble members are {' or '.join(MEMBER_KINDS)} models.")
            self.members.append(model)

    def member_positive(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return np.column_stack([model.cached_probabilities(texts, batch_size)[:, 1] for model in self.members])

    def probabilities(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return combine(self.member_positive(texts, batch_size), self.weights, self.intercept)

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
        if not texts:
            return []
        positive = self.member_positive(texts, batch_size)
        rows = combine(positive, self.weights, self.intercept)
        answers = []
        for row, member_row in zip(rows, positive):
            members = [
                {"model_version_id": version, "kind": kind, "weight": weight, "prob_positive": float(value)}
                for version, kind, weight, value in zip(self.member_versions, self.member_kinds, self.weights, member_row)
            ]
            answers.append(
                {
                    "label": int(row.argmax()),
                    "confidence": float(row.max()),
                    "probabilities": [float(row[0]), float(row[1])],
                    "members": members,
                }
            )
        return answers
