"""The refusals of labelling: each says why an action cannot be done, with the HTTP status the API answers."""

from __future__ import annotations


class LabellingRefused(Exception):
    """A labelling action that cannot be done; the message says why and what to do instead."""

    code = "refused"
    http_status = 409

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class InvalidLabel(LabellingRefused):
    code = "invalid_label"
    http_status = 400


class NotAnAnnotator(LabellingRefused):
    code = "not_an_annotator"
    http_status = 403


class NotAssigned(LabellingRefused):
    code = "not_assigned"
    http_status = 403


class AlreadyResolved(LabellingRefused):
    code = "already_resolved"


class AlreadyLabelled(LabellingRefused):
    code = "already_labelled"


class HoldLost(LabellingRefused):
    code = "hold_lost"


class NothingToUndo(LabellingRefused):
    code = "nothing_to_undo"


class QueueInactive(LabellingRefused):
    code = "queue_inactive"


class QueueConfigError(ValueError):
    """A queue cannot be created or changed as asked; ``errors`` holds one message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(f"{field}: {message}" for field, message in self.errors.items()))
