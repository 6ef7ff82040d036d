"""Job bodies of labelling, run on a worker: the label-noise detection (``NoiseRunner``).

The job reads the labelled reviews of its scope, has each one scored by a TF-IDF model fitted on the other
folds (``workers.ml.noise``), and stores every review's verdict (``NoiseScore``) with the totals in the
transaction that marks it succeeded. Starting one and reading the results is ``apps.labelling.noise``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Case, F, Q, When
from django.db.models.functions import Coalesce

from apps.labelling import sql
from apps.labelling.choices import ResolutionMethod
from apps.labelling.models import NoiseDetection, NoiseScore
from apps.labelling.noise import NoiseJob, queues_reorder_for_noise
from apps.reviews.models import Review, SnapshotItem

if TYPE_CHECKING:
    from workers.ml.noise import NoiseFindings

SCORE_COLUMNS = ("detection", "review", "label", "quality", "prob_positive", "is_issue")
INSERT_BATCH_SIZE = 5_000


class NoiseRunner(NoiseJob):
    """The detection's body, on a worker: score every labelled review out of fold, then record the verdicts."""

    # Declared again so that, where the job's body is loaded (a worker), it is the kind of NoiseDetection jobs.
    model = NoiseDetection

    @classmethod
    def failure_message(cls, error: BaseException) -> str:
        from workers.ml.noise import NoiseInputError

        if isinstance(error, NoiseInputError):
            return str(error)
        return super().failure_message(error)

    def run(self) -> None:
        from workers.ml.noise import NoiseSettings, detect_label_noise

        job = self.job
        rows = self.db.call(lambda: labelled_rows(job))
        self.progress.log_line(
            f"Checking {len(rows):,} labelled reviews of {job.scope_label}: {job.folds} folds, {job.repeats} seeded splits."
        )
        self.progress({"type": "step", "step": 0, "total_steps": job.total})

        def on_fold(done: int, total: int) -> None:
            self.progress({"type": "step", "step": done, "total_steps": total})
            self.progress.check_cancelled()

        findings = detect_label_noise(
            [text for _, _, text in rows],
            [label for _, label, _ in rows],
            settings=NoiseSettings(folds=job.folds, repeats=job.repeats, ngram_max=job.ngram_max),
            progress=on_fold,
            should_stop=self.progress.should_stop,
        )
        self.checked = [(review_id, label) for review_id, label, _ in rows]
        self.findings = findings
        self.progress.log_line(
            f"Flagged {findings.flagged:,} labels; confident learning estimates {findings.estimated_issues:,} wrong "
            f"({findings.estimated_issues / len(rows):.1%}); out-of-sample accuracy {findings.out_of_sample_accuracy:.3f}; "
            f"{findings.seconds:.0f} s."
        )

    def record_success(self, job: NoiseDetection) -> None:
        findings: NoiseFindings = self.findings
        _insert_scores(job, self.checked, findings)
        job.reviews = len(self.checked)
        job.flagged = findings.flagged
        job.estimated_issues = findings.estimated_issues
        job.out_of_sample_accuracy = findings.out_of_sample_accuracy
        job.processed = job.total
        # In the transaction that records the success: the queues read its scores as a succeeded detection's.
        queues_reorder_for_noise(succeeding=job)


def labelled_rows(job: NoiseDetection) -> list[tuple[int, int, str]]:
    """``(review id, label, text)`` of the scope's labelled reviews, in review id order."""
    if job.snapshot_id is not None:
        items = SnapshotItem.objects.filter(snapshot_id=job.snapshot_id)
        if job.split:
            items = items.filter(split=job.split)
        query = items.order_by("review_id").values_list("review_id", "label", "review__text")
        return list(query.iterator(chunk_size=5_000))
    label = Case(
        When(resolution__method=ResolutionMethod.SETTLED, then=F("resolution__label")),
        default=Coalesce("gold_label", "resolution__label"),
    )
    reviews = Review.objects.filter(import_job_id=job.import_job_id).filter(
        Q(gold_label__isnull=False) | Q(resolution__isnull=False)
    )
    return list(reviews.order_by("id").values_list("id", label, "text").iterator(chunk_size=5_000))


def _insert_scores(job: NoiseDetection, rows: list[tuple[int, int]], findings: NoiseFindings) -> None:
    """Write the detection's verdict on each ``(review id, label)`` row: COPY on PostgreSQL, bulk inserts elsewhere."""
    values = [
        (job.pk, review_id, label, float(quality), float(probabilities[1]), bool(issue))
        for (review_id, label), quality, probabilities, issue in zip(
            rows, findings.quality, findings.probabilities, findings.issues, strict=True
        )
    ]
    if connection.vendor == "postgresql":
        columns = sql.columns(NoiseScore, SCORE_COLUMNS)
        statement = f"COPY {sql.table(NoiseScore)} ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)
        return
    NoiseScore.objects.bulk_create(
        (
            NoiseScore(detection_id=pk, review_id=review_id, label=label, quality=quality, prob_positive=positive, is_issue=issue)
            for pk, review_id, label, quality, positive, issue in values
        ),
        batch_size=INSERT_BATCH_SIZE,
    )
