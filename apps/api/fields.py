"""Serializer fields the resources share."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.common.choices import Label

LABEL_NAMES = [label.label for label in Label]  # ["negative", "positive"]
_BY_NAME = {label.label: label.value for label in Label}


@extend_schema_field({"type": "string", "enum": LABEL_NAMES, "example": "positive"})
class LabelField(serializers.Field):
    """A sentiment label: ``"negative"`` or ``"positive"`` (0 or 1 are accepted too), or null where allowed."""

    default_error_messages = {"invalid": 'A label is "negative" or "positive" (or 0 / 1).'}

    def to_representation(self, value: int) -> str:
        return Label(value).label

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and data.strip().lower() in _BY_NAME:
            return _BY_NAME[data.strip().lower()]
        if isinstance(data, int) and not isinstance(data, bool) and data in (0, 1):
            return data
        self.fail("invalid")
        raise AssertionError  # fail() raises


class IdFilterField(serializers.IntegerField):
    """An id in a query string: a positive whole number that fits the database's ids."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(min_value=1, max_value=2**63 - 1, **kwargs)


class RelatedIdField(serializers.PrimaryKeyRelatedField):
    """The id of a row in ``queryset``, answered with the row; an unknown id says which kind of row is missing."""

    def __init__(self, *, what: str, **kwargs: Any) -> None:
        self.what = what
        super().__init__(**kwargs)
        self.error_messages["does_not_exist"] = f"There is no {what} {{pk_value}}."
        self.error_messages["incorrect_type"] = f"Give the {what}'s id, a whole number."

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 1 <= data < 2**63:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class QueryFilters(serializers.Serializer):
    """A list's query parameters. A parameter given with no value (``?status=``) is refused, not ignored:
    DRF would treat it as absent and answer the whole list, which is not what the caller asked for."""

    def to_internal_value(self, data: Any) -> Any:
        blank = [str(name) for name in self.fields if hasattr(data, "getlist") and name in data and data.get(name) == ""]
        if blank:
            raise serializers.ValidationError(
                {name: ["Give this parameter a value, or leave it out of the query."] for name in blank}
            )
        return super().to_internal_value(data)
