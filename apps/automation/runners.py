"""A retraining cycle as a kind of job: snapshot -> train -> score candidate and current -> promote or not.

One job does the whole cycle on one worker, calling each step's own service (a training run and
evaluations created with ``enqueue=False`` and executed by this worker, each in a process of its own
as the worker runs them, ``steps_in_child``): a cycle waiting on a worker for runs queued behind it
would never finish on a single worker, and here every step's row still records its own progress,
heartbeat and outcome. The cycle's queue is its kind's (transformers
on ``gpu``). A step that fails fails the cycle, and the current model stays.

Both models are scored on the policy's benchmark split, and compared on the benchmark reviews that
neither of them trained or validated on: a snapshot reshuffles the labelled reviews, so a candidate
would otherwise be scored partly on its own training data.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Q

from apps.automation.choices import ComparisonMetric, CycleStage
from apps.automation.jobs import CycleJob
from apps.automation.models import RetrainingCycle
from apps.common.choices import JobStatus
from apps.registry.models import ModelVersion
from apps.registry.selectors import current_model_version
from apps.registry.services import PromotionError, _serialise_changes_of_current, model_version_promote
from apps.reviews.choices import Split
from apps.reviews.models import SnapshotItem
from apps.reviews.snapshots import SnapshotError, snapshot_create
from apps.training.models import EvaluationRun, RunPrediction
from apps.training.runners import EvaluationRunner, TrainingRunner, evaluation_run_execute, training_run_execute
from apps.training.services import RunConfigError, evaluation_run_create, training_run_create
from workers.ml.metrics import classification_metrics

logger = logging.getLogger(__name__)


class CycleFailed(Exception):
    """A step of the cycle did not succeed; the message says which and why."""


class CycleRunner(CycleJob):
    # Declared again so that this runner, not the web's ``CycleJob``, is the kind a worker looks up.
    model = RetrainingCycle

    def run(self) -> None:
        cycle = self.job
        policy = cycle.policy
        self._set(stage=CycleStage.SNAPSHOT)
        self.progress.log_line(f"Cycle {cycle.pk} of policy {policy.name!r} ({cycle.get_trigger_display().lower()}).")
        try:
            snapshot = self.db.call(
                lambda: snapshot_create(
                    name=f"{policy.name}, cycle {cycle.pk}"[:200],
                    seed=policy.snapshot_seed,
                    label_source=policy.label_source,
                    description=f"Taken by retraining cycle {cycle.pk} of policy {policy.name!r}.",
                    created_by=cycle.created_by,
                )
            )
        except SnapshotError as error:
            raise CycleFailed(f"The snapshot could not be taken: {error}") from None
        self._set(snapshot=snapshot, stage=CycleStage.TRAINING)
        self.progress.log_line(f"Snapshot {snapshot.pk}: {snapshot.size:,} reviews.")
        self.progress.check_cancelled(force=True)

        try:
            run = self.db.call(
                lambda: training_run_create(
                    snapshot=snapshot,
                    created_by=cycle.created_by,
                    notes=f"Trained by retraining cycle {cycle.pk} of policy {policy.name!r}.",
                    enqueue=False,
                    kind=policy.kind,
                    **policy.hyperparameters,
                )
            )
        except RunConfigError as error:
            raise CycleFailed(f"The training run could not be created: {error}") from None
        self._set(training_run=run)
        if self.options.get("steps_in_child"):
            TrainingRunner.handle(run.pk, worker=cycle.worker, in_child=True)
        else:
            training_run_execute(run_id=run.pk, worker=cycle.worker)
        run.refresh_from_db()
        if run.status != JobStatus.SUCCEEDED:
            self.progress.check_cancelled(force=True)  # the run ended because the cycle was cancelled
            reason = f": {run.error}" if run.error else "."
            raise CycleFailed(f"Training run {run.pk} {run.status}{reason} Nothing was promoted.")
        candidate = ModelVersion.objects.get(training_run=run)
        self._set(candidate=candidate, stage=CycleStage.EVALUATING)
        self.progress.log_line(f"Training run {run.pk} registered model version {candidate.pk}.")
        self.progress.check_cancelled(force=True)

        candidate_evaluation = self._evaluate(candidate, field="candidate_evaluation")
        baseline = cycle.baseline_version
        current_evaluation = self._evaluate(baseline, field="current_evaluation") if baseline is not None else None
        self._set(stage=CycleStage.DECIDING)
        self.progress.check_cancelled(force=True)
        self._decide(candidate, candidate_evaluation, baseline, current_evaluation)

    def record_success(self, job: RetrainingCycle) -> None:
        job.stage = CycleStage.DONE
        job.append_log(f"{job.decision}\n")

    # --- Steps -------------------------------------------------------------------------------------------

    def _evaluate(self, version: ModelVersion, *, field: str) -> EvaluationRun:
        """Score ``version`` on the benchmark split; an earlier succeeded evaluation there is reused."""
        policy = self.job.policy
        earlier = (
            EvaluationRun.objects.filter(
                model_version=version,
                snapshot=policy.benchmark_snapshot,
                split=policy.benchmark_split,
                status=JobStatus.SUCCEEDED,
            )
            .order_by("-finished_at")
            .first()
        )
        if earlier is not None:
            self._set(**{field: earlier})
            self.progress.log_line(f"Model version {version.pk} was scored on the benchmark by evaluation {earlier.pk}.")
            return earlier
        try:
            evaluation = evaluation_run_create(
                model_version=version,
                snapshot=policy.benchmark_snapshot,
                split=policy.benchmark_split,
                created_by=self.job.created_by,
                enqueue=False,
            )
        except RunConfigError as error:
            raise CycleFailed(f"Model version {version.pk} could not be scored on the benchmark: {error}") from None
        self._set(**{field: evaluation})
        if self.options.get("steps_in_child"):
            EvaluationRunner.handle(evaluation.pk, worker=self.job.worker, in_child=True)
        else:
            evaluation_run_execute(run_id=evaluation.pk, worker=self.job.worker)
        evaluation.refresh_from_db()
        if evaluation.status != JobStatus.SUCCEEDED:
            self.progress.check_cancelled(force=True)  # the evaluation ended because the cycle was cancelled
            reason = f": {evaluation.error}" if evaluation.error else "."
            raise CycleFailed(
                f"Evaluation {evaluation.pk} of model version {version.pk} {evaluation.status}{reason} Nothing was promoted."
            )
        return evaluation

    def _decide(
        self,
        candidate: ModelVersion,
        candidate_evaluation: EvaluationRun,
        baseline: ModelVersion | None,
        current_evaluation: EvaluationRun | None,
    ) -> None:
        cycle = self.job
        metric = cycle.metric
        seen = _seen_in_training([candidate, baseline])
        scored = _scored_reviews(candidate_evaluation, current_evaluation)
        kept = {review_id for review_id in scored if review_id not in seen}
        candidate_metrics = _metrics_on(candidate_evaluation, kept)
        current_metrics = _metrics_on(current_evaluation, kept) if current_evaluation is not None else {}
        self._set(
            benchmark_reviews=len(kept),
            benchmark_excluded=len(scored) - len(kept),
            candidate_metrics=candidate_metrics,
            current_metrics=current_metrics,
        )
        name = dict(ComparisonMetric.choices)[metric].lower()  # the choices of RetrainingCycle.metric
        promote, reason = _rule(
            candidate=candidate,
            baseline=baseline,
            candidate_score=candidate_metrics.get(metric),
            current_score=current_metrics.get(metric),
            margin=cycle.min_improvement,
            metric=name,
            reviews=len(kept),
            excluded=len(scored) - len(kept),
        )
        promotion = None
        if promote:
            with transaction.atomic():
                # Held until the promotion commits: another cycle or a hand promoting meanwhile waits, then
                # sees this one, instead of being replaced by a candidate compared with the version before it.
                _serialise_changes_of_current()
                now_current = current_model_version()
                if (now_current.pk if now_current else None) != (baseline.pk if baseline else None):
                    promote = False
                    reason = (
                        f"Not promoted: the current model changed to version {now_current.pk if now_current else 'none'} "
                        f"while the cycle compared the candidate with {f'version {baseline.pk}' if baseline else 'none'}. "
                        + reason
                    )
                else:
                    try:
                        promotion = model_version_promote(
                            version=candidate, by=None, reason=f"Retraining cycle {cycle.pk}: {reason}"
                        )
                    except PromotionError as error:
                        promote, reason = False, f"Not promoted: the promotion was refused ({error}). {reason}"
        elif candidate.pk == getattr(current_model_version(), "pk", None):
            promote, reason = True, "AUTO_PROMOTE made the candidate current when it was registered. " + reason
        self._set(promoted=promote, decision=reason, promotion=promotion)
        self.progress.log_line(reason)
        if promote:
            self._set(batch_jobs=_reorder_queues(candidate, log=self.progress.log_line))

    def _set(self, **values: Any) -> None:
        """Write cycle columns at once (the dashboard follows them), keeping the row in memory in step."""
        for name, value in values.items():
            setattr(self.job, name, value)
        self.db.call(lambda: RetrainingCycle.objects.filter(pk=self.job.pk).update(**values))


def _rule(
    *,
    candidate: ModelVersion,
    baseline: ModelVersion | None,
    candidate_score: float | None,
    current_score: float | None,
    margin: float,
    metric: str,
    reviews: int,
    excluded: int,
) -> tuple[bool, str]:
    """(promote?, why) by the policy's rule: better by at least the margin on the metric, on the same reviews."""
    on = f"on {reviews:,} benchmark reviews neither model trained on"
    if excluded:
        on += f" ({excluded:,} others left out: a model had seen them)"
    if baseline is None:
        score = f" ({metric} {candidate_score:.4f} {on})" if candidate_score is not None else ""
        return True, f"Promoted version {candidate.pk}: no version was current{score}."
    if reviews == 0 or candidate_score is None or current_score is None:
        return False, (
            f"Not promoted: no benchmark review is unseen by both version {candidate.pk} and the current version "
            f"{baseline.pk}, so they cannot be compared fairly. Choose a benchmark snapshot whose split the "
            "policy's snapshots do not train on (reviews of another source, or a gold snapshot under a human label source)."
        )
    difference = candidate_score - current_score
    figures = f"{metric} {candidate_score:.4f} against {current_score:.4f} for the current version {baseline.pk} {on}"
    wanted = f"at least {margin:.4f} better" if margin > 0 else "better"
    if difference > 0 and difference >= margin - 1e-12:
        return True, f"Promoted version {candidate.pk}: {figures}, {difference:+.4f}, {wanted} as the policy asks."
    return False, (
        f"Not promoted: version {candidate.pk} has {figures}, {difference:+.4f}; the policy asks for {wanted}. "
        f"The current version {baseline.pk} stays."
    )


def _seen_in_training(versions: list[ModelVersion | None]) -> set[int]:
    """Reviews any of ``versions`` trained or validated on (their snapshots' train and validation splits)."""
    snapshots = [version.snapshot_id for version in versions if version is not None and version.snapshot_id]
    if not snapshots:
        return set()
    items = SnapshotItem.objects.filter(
        Q(split=Split.TRAIN) | Q(split=Split.VALIDATION), snapshot_id__in=snapshots
    ).values_list("review_id", flat=True)
    return set(items.iterator(chunk_size=10_000))


def _scored_reviews(first: EvaluationRun, second: EvaluationRun | None) -> set[int]:
    """Reviews both evaluations predicted (all of the first's when there is no second)."""
    ids = set(RunPrediction.objects.filter(evaluation_run=first).values_list("review_id", flat=True))
    if second is not None:
        ids &= set(RunPrediction.objects.filter(evaluation_run=second).values_list("review_id", flat=True))
    return ids


def _metrics_on(evaluation: EvaluationRun, reviews: set[int]) -> dict[str, Any]:
    rows = [
        (gold, predicted)
        for review_id, gold, predicted in RunPrediction.objects.filter(evaluation_run=evaluation).values_list(
            "review_id", "gold_label", "predicted_label"
        )
        if review_id in reviews
    ]
    if not rows:
        return {}
    metrics = classification_metrics([gold for gold, _ in rows], [predicted for _, predicted in rows])
    return {**metrics, "support": len(rows)}


def _reorder_queues(version: ModelVersion, *, log: Any) -> list[int]:
    """Batch-predict the pools of the model-assisted labelling queues with the new current model.

    Each batch job reorders those queues when it succeeds (``apps.predictions.batch``): the order comes
    from the current model's predictions, which a new model does not have yet. One job per distinct pool.
    """
    from apps.common.broker import BrokerUnavailable
    from apps.labelling.choices import QueueStrategy
    from apps.labelling.models import LabellingQueue
    from apps.predictions.batch import BatchJobError, batch_prediction_job_create

    pools = (
        LabellingQueue.objects.filter(is_active=True)
        .exclude(strategy=QueueStrategy.RANDOM)
        .values_list("pool", "pool_snapshot", "pool_split", "pool_import")
        .distinct()
    )
    jobs = []
    for pool, snapshot_id, split, import_id in pools:
        try:
            job = batch_prediction_job_create(
                model_version=version,
                pool=pool,
                snapshot=_snapshot(snapshot_id),
                split=split or "",
                import_job=_import(import_id),
            )
        except (BatchJobError, BrokerUnavailable) as error:
            # The promotion stands; the queues can be reordered by hand (or by a batch job) later.
            log(f"Could not queue the batch prediction of pool {pool}: {error}")
            continue
        jobs.append(job.pk)
    if jobs:
        log(f"Queued batch predictions {', '.join(map(str, jobs))} with version {version.pk}; they reorder the labelling queues.")
    return jobs


def _snapshot(pk: int | None) -> Any:
    from apps.reviews.models import DatasetSnapshot

    return DatasetSnapshot.objects.filter(pk=pk).first() if pk else None


def _import(pk: int | None) -> Any:
    from apps.reviews.models import ImportJob

    return ImportJob.objects.filter(pk=pk).first() if pk else None
