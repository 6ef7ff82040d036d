"""Example bodies of the labelling API, for the OpenAPI schema."""

from __future__ import annotations

QUEUE_PROGRESS_EXAMPLE = {
    "reviews": 2000,
    "done": 412,
    "remaining": 1588,
    "labels": 851,
    "resolved": 398,
    "conflicts": 14,
    "skipped": 9,
    "in_progress": 2,
}
NEW_QUEUE_PROGRESS_EXAMPLE = {
    **QUEUE_PROGRESS_EXAMPLE,
    **dict.fromkeys(["done", "labels", "resolved", "conflicts", "skipped", "in_progress"], 0),
    "remaining": 2000,
}
QUEUE_EXAMPLE = {
    "id": 4,
    "name": "Uncertain reviews, May import",
    "pool": "import",
    "pool_snapshot": None,
    "pool_split": "",
    "pool_import": 12,
    "strategy": "uncertainty",
    "overlap": 2,
    "annotators": ["anna", "ben"],
    "is_active": True,
    "created_at": "2025-05-02T08:15:00Z",
    "ordered_at": "2025-05-02T11:40:03Z",
    "ordered_with": 9,
    "progress": QUEUE_PROGRESS_EXAMPLE,
}
LABELLING_REVIEW_EXAMPLE = {
    "id": 50231,
    "text": "I wanted to love it, and the first hour is gorgeous, but the second half drags and the ending falls flat.",
    "source": "upload",
    "external_id": "ticket-8812",
    "gold_label": None,
}
ASSIGNMENT_EXAMPLE = {
    "id": 7718,
    "queue": 4,
    "review": LABELLING_REVIEW_EXAMPLE,
    "assigned_at": "2025-05-02T12:00:41Z",
    "expires_at": "2025-05-02T12:30:41Z",
    "suggestion": {"label": "negative", "confidence": 0.5412, "model_version": 9},
}
NEXT_EXAMPLE = {"assignment": ASSIGNMENT_EXAMPLE, "labels_today": 57}
NOTHING_LEFT_EXAMPLE = {"assignment": None, "labels_today": 212}
RESOLUTION_EXAMPLE = {
    "label": "negative",
    "method": "unanimous",
    "reason": "",
    "settled_by": None,
    "updated_at": "2025-05-02T12:01:05Z",
}
ANNOTATION_EXAMPLE = {
    "id": 30512,
    "review": 50231,
    "label": "negative",
    "annotator": "anna",
    "queue": 4,
    "created_at": "2025-05-02T12:01:05Z",
    "resolution": RESOLUTION_EXAMPLE,
}
LABELLED_EXAMPLE = {
    "annotation": ANNOTATION_EXAMPLE,
    "resolution": RESOLUTION_EXAMPLE,
    "conflict": False,
    "next": {
        **ASSIGNMENT_EXAMPLE,
        "id": 7725,
        "review": {
            **LABELLING_REVIEW_EXAMPLE,
            "id": 50244,
            "text": "Not a masterpiece, but funny from start to finish; the kids loved it.",
            "external_id": "ticket-8830",
        },
        "assigned_at": "2025-05-02T12:01:05Z",
        "expires_at": "2025-05-02T12:31:05Z",
        "suggestion": {"label": "positive", "confidence": 0.6127, "model_version": 9},
    },
    "labels_today": 58,
}
CONFLICT_EXAMPLE = {
    "review": {
        **LABELLING_REVIEW_EXAMPLE,
        "id": 48807,
        "text": "Oh great, another two hours of explosions and no plot. Exactly what I was hoping for.",
        "external_id": "ticket-8790",
    },
    "labels": [{"annotator": "anna", "label": "negative"}, {"annotator": "ben", "label": "positive"}],
    "reason": "The annotators are split evenly (1 positive, 1 negative).",
}
SETTLED_EXAMPLE = {
    "review": 48807,
    "resolution": {
        "label": "negative",
        "method": "settled",
        "reason": "Sarcasm: the praise is ironic and the review complains about the plot.",
        "settled_by": "mladmin",
        "updated_at": "2025-05-02T14:20:11Z",
    },
}
EXPORT_CSV_EXAMPLE = (
    "review_id,source,external_id,text,label,annotator,labelled_at,queue,gold_label,resolution,"
    "resolution_method,resolution_reason,settled_by,resolved_at\r\n"
    '48807,upload,ticket-8790,"Oh great, another two hours of explosions and no plot. Exactly what I was hoping '
    'for.",negative,anna,2025-05-02T11:58:12Z,"Uncertain reviews, May import",,negative,settled,Sarcasm: the '
    "praise is ironic and the review complains about the plot.,mladmin,2025-05-02T14:20:11Z\r\n"
)
EXPORT_JSONL_EXAMPLE = (
    '{"review_id": 48807, "source": "upload", "external_id": "ticket-8790", "text": "Oh great, another two hours '
    'of explosions and no plot. Exactly what I was hoping for.", "label": "negative", "annotator": "anna", '
    '"labelled_at": "2025-05-02T11:58:12Z", "queue": "Uncertain reviews, May import", "gold_label": null, '
    '"resolution": "negative", "resolution_method": "settled", "resolution_reason": "Sarcasm: the praise is ironic '
    'and the review complains about the plot.", "settled_by": "mladmin", "resolved_at": "2025-05-02T14:20:11Z"}\n'
)
