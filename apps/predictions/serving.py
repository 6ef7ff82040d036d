"""The web side's predictor: serves whichever model version is current, in every thread of the process.

- **Lazy**: nothing is loaded at start; the first prediction loads the current version (torch is
  imported then, and only for a transformer), under a lock so concurrent first requests load it once.
- **Promotion without a restart**: each prediction first asks the database which version is current
  (one query on the partial unique index of ``is_current``, well under a millisecond). A promotion or
  rollback committed before a request started is therefore answered by the new version in that very
  request; a request already past the check finishes with the version it started with. The previous
  version stays loaded beside the current one, so a rollback right after a promotion costs no load.
- **Warm on promotion**: each web process's ``Warmer`` thread checks every PREDICTION_WARM_SECONDS and
  loads (and runs once) a newly current version, so no request pays for the load.
- **Less work per review**: on a CPU the transformer's encoder runs in int8 (``PREDICTION_QUANTIZE``), and
  answers for recently seen texts are kept (``PREDICTION_CACHE_SIZE``).
- **Screening** (``PREDICTION_SCREEN_CONFIDENCE``): for a transformer version, the newest TF-IDF version
  trained on the same snapshot answers the reviews it is at least that sure of, and only the rest run
  through the transformer. Each answer records the version that gave it. The default, 0.98, is the
  loosest threshold at which the screen changed at most 0.5% of the transformer's answers on held-out
  reviews (bench/predict.py), so it cannot cost more than 0.5 points of accuracy there whichever model
  is the better one; 0 turns screening off.
- **Concurrency**: loaded models are read-only and shared by threads, and predictions run concurrently:
  on two cores, two threads predicting single reviews at once answered 11-39% more reviews per second
  than the same threads taking turns under a lock (bench/predict.py, int8 encoder), so a lock would
  only add waiting. Only loading takes a lock.

The settings are read with the defaults below where sentimentsite/settings.py does not name them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from apps.registry.models import ModelVersion
from apps.registry.services import model_version_artifact_dir
from apps.training.choices import ModelKind
from workers.ml.artifacts import ArtifactError
from workers.ml.inference import LoadedModel, ScreenedModel, load_model

logger = logging.getLogger(__name__)

# The current version and the one before it stay loaded: a rollback right after a promotion is instant.
LOADED_VERSIONS = 2
# Texts per forward pass; the transformer caps it further on a CPU.
BATCH_SIZE = 32
# What a newly loaded version predicts once, so the first real request finds its kernels warm.
WARM_UP_TEXT = "A warm-up review: the film was neither good nor bad."


class NoCurrentModel(Exception):
    """No model version is current, so there is nothing to predict with."""

    def __init__(self) -> None:
        super().__init__("No model is current yet: an ML admin promotes one in Models/the admin.")


class ModelUnavailable(Exception):
    """The current version's files cannot be loaded (missing, changed or unreadable)."""


@dataclass(frozen=True)
class Answer:
    label: int
    confidence: float
    prob_negative: float
    prob_positive: float
    # The version that gave this answer: the current one, or its TF-IDF screen.
    model_version_id: int
    # An ensemble's members, each with its own p(positive) and weight: ({"model_version_id", "kind", "weight",
    # "prob_positive"}, ...); empty for any other kind of version.
    members: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class PredictionBatch:
    answers: list[Answer]
    model_version: ModelVersion
    screen_version: ModelVersion | None
    elapsed_ms: float


@dataclass(frozen=True)
class ServedModel:
    version: ModelVersion
    model: LoadedModel
    screen_version: ModelVersion | None
    screened: ScreenedModel | None

    def predict(self, texts: list[str]) -> list[Answer]:
        rows = (self.screened or self.model).predict(texts, batch_size=BATCH_SIZE)
        screen_id = self.screen_version.pk if self.screen_version is not None else None
        return [
            Answer(
                label=row["label"],
                confidence=row["confidence"],
                prob_negative=row["probabilities"][0],
                prob_positive=row["probabilities"][1],
                model_version_id=screen_id if row.get("screened") and screen_id is not None else self.version.pk,
                members=tuple(row.get("members", ())),
            )
            for row in rows
        ]


def screen_confidence() -> float:
    return float(settings.PREDICTION_SCREEN_CONFIDENCE)


def current_version_id() -> int | None:
    """The id of the current version, from one indexed query."""
    return ModelVersion.objects.filter(is_current=True).order_by().values_list("pk", flat=True).first()


class CurrentModelPredictor:
    """Predicts with the current model version, loading versions on demand; one per process, shared by threads."""

    def __init__(self) -> None:
        self._load_lock = threading.Lock()
        self._served: OrderedDict[int, ServedModel] = OrderedDict()
        self._warmed: set[int] = set()

    def predict(self, texts: list[str]) -> PredictionBatch:
        """Answers for `texts` from the version current at this moment.

        Raises NoCurrentModel before the first promotion, ModelUnavailable when its files cannot be loaded.
        """
        served = self.served()
        started = time.perf_counter()
        answers = served.predict(texts)
        return PredictionBatch(
            answers=answers,
            model_version=served.version,
            screen_version=served.screen_version,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def served(self) -> ServedModel:
        """The loaded current version, loading it first when it has changed since the last request."""
        version_id = current_version_id()
        if version_id is None:
            raise NoCurrentModel()
        loaded = self._served
        if loaded and next(reversed(loaded)) == version_id:
            return loaded[version_id]
        with self._load_lock:
            # Readers look versions up without the lock, so the dict is replaced, never changed in place;
            # the current version goes last, so the one evicted is the longest out of service.
            loaded = OrderedDict(self._served)
            served = loaded.pop(version_id, None) or self._load(version_id)
            loaded[version_id] = served
            while len(loaded) > LOADED_VERSIONS:
                loaded.popitem(last=False)
            self._served = loaded
        return served

    def warm(self) -> int | None:
        """Load the current version if it changed and run it once, so no request waits for either.

        Returns the current version's id (None while there is none).
        """
        try:
            served = self.served()
        except NoCurrentModel:
            return None
        if served.version.pk not in self._warmed:
            served.predict([WARM_UP_TEXT])
            self._warmed = {*self._warmed, served.version.pk}
            logger.info("Model version %s is loaded and warm in this process.", served.version.pk)
        return served.version.pk

    def clear(self) -> None:
        """Forget every loaded version (tests; freeing memory)."""
        with self._load_lock:
            self._served = OrderedDict()
            self._warmed = set()

    def _load(self, version_id: int) -> ServedModel:
        try:
            version = ModelVersion.objects.get(pk=version_id)
        except ModelVersion.DoesNotExist:
            # Deleted between the check and the load (a promotion moved on); the caller's next request sees the new one.
            raise NoCurrentModel() from None
        model = _load_version(version)
        screen_version = screen_version_of(version)
        screened = None
        if screen_version is not None:
            try:
                screened = ScreenedModel(model, _load_version(screen_version), screen_confidence())
            except ModelUnavailable as error:
                # The transformer can answer every review itself: slower, but not a reason to refuse them.
                logger.warning("Serving version %s without its TF-IDF screen: %s", version.pk, error)
                screen_version = None
        return ServedModel(version=version, model=model, screen_version=screen_version, screened=screened)


def _load_version(version: ModelVersion) -> LoadedModel:
    try:
        # With object storage: this machine's copy, fetched and checked against the manifest on first use.
        folder = model_version_artifact_dir(version=version)
        return load_model(
            folder,
            cache_size=settings.PREDICTION_CACHE_SIZE,
            quantize=settings.PREDICTION_QUANTIZE,
        )
    except (ArtifactError, OSError, ValueError) as error:
        raise ModelUnavailable(
            f"Model version {version.pk} cannot be loaded from {version.artifact_path}: {error} "
            "Promote another version, or restore its artifact folder."
        ) from error


def screen_version_of(version: ModelVersion) -> ModelVersion | None:
    """The newest TF-IDF version trained on the same snapshot as a transformer version, when screening is on."""
    if not screen_confidence() or version.kind != ModelKind.TRANSFORMER or version.snapshot_id is None:
        return None
    return (
        ModelVersion.objects.filter(kind=ModelKind.TFIDF, snapshot_id=version.snapshot_id)
        .order_by("-created_at", "-pk")
        .first()
    )


predictor = CurrentModelPredictor()


class Warmer:
    """A thread per web process that loads a newly promoted version within PREDICTION_WARM_SECONDS.

    Without it the first request after a promotion would pay for loading the model (seconds for a
    transformer); with it every process has the new version loaded and run once before any request asks.
    Started once per process: by gunicorn as each worker comes up (gunicorn.conf.py), else by the
    process's first request (``WarmerMiddleware``, for runserver), so it runs in web processes only.
    """

    def __init__(self, target: CurrentModelPredictor) -> None:
        self.target = target
        self.started = False
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def start(self) -> None:
        interval = float(settings.PREDICTION_WARM_SECONDS)
        with self.lock:
            if self.started or interval <= 0:
                return
            self.started = True
        threading.Thread(target=self._loop, args=(interval,), name="predictor-warmer", daemon=True).start()

    def _loop(self, interval: float) -> None:
        from django.db import close_old_connections, connection

        prepared = False
        last_failure = ""
        try:
            while True:
                close_old_connections()
                try:
                    # Before a transformer version is promoted, so its load does not pay for the imports.
                    prepared = prepared or prepare_for_transformers(self.target)
                    self.target.warm()
                    last_failure = ""
                except Exception as error:  # a broken version or a database blip: requests say so; retried
                    if str(error) != last_failure:  # once per problem, not every second
                        logger.exception("Warming the current model failed; trying again every %s s", interval)
                    last_failure = str(error)
                if self.stop.wait(interval):
                    return
        finally:
            connection.close()


def prepare_for_transformers(target: CurrentModelPredictor) -> bool:
    """Import PyTorch and transformers ahead of time once a transformer version exists: loading the first
    one would otherwise pay for the imports (seconds) on top of the model's own load. True once imported.

    Under the predictor's load lock: transformers resolves its names lazily, and a request thread
    importing them at the same moment would find the module half set up (ImportError).
    """
    if not ModelVersion.objects.filter(kind=ModelKind.TRANSFORMER).exists():
        return False
    with target._load_lock:
        import torch  # noqa: F401
        from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: F401

    return True


warmer = Warmer(predictor)


class WarmerMiddleware:
    """Starts this process's ``Warmer`` at its first request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not warmer.started:
            warmer.start()
        return self.get_response(request)
