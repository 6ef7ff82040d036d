from __future__ import annotations

from django.db import models


class ModelKind(models.TextChoices):
    TRANSFORMER = "transformer", "Fine-tuned transformer"
    TFIDF = "tfidf", "TF-IDF + logistic regression"
    ENSEMBLE = "ensemble", "Ensemble of versions"


# What a training run trains. An ensemble is not trained from reviews: it is built from trained versions
# (apps.registry.ensembles), so training forms, the API and the runs list never offer it.
TRAINED_KINDS = [(kind.value, kind.label) for kind in (ModelKind.TRANSFORMER, ModelKind.TFIDF)]


class Truncation(models.TextChoices):
    HEAD = "head", "Keep the start"
    HEAD_TAIL = "head_tail", "Keep the start and the end"


class EvaluationSplit(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"
    TEST = "test", "Test"
    HUMAN = "human", "Human-labelled reviews"
    IMPORT = "import", "Labelled reviews of an import"
    FILE = "file", "An uploaded labelled file"


# Evaluations whose reviews come from a snapshot's split (the rest name their reviews another way).
SNAPSHOT_SPLITS = (EvaluationSplit.TRAIN, EvaluationSplit.VALIDATION, EvaluationSplit.TEST)
