"""Base serializers shared by the API's resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """Request input that refuses fields it does not know instead of ignoring them.

    For requests whose effect is costly to get wrong (queueing an hours-long training run), a misspelt
    or misplaced field must not silently fall back to a default.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = [name for name, field in self.fields.items() if not field.read_only]
            unknown = sorted(str(name) for name in data if name not in known)
            if unknown:
                raise serializers.ValidationError(
                    {name: f"Unknown field; the fields are: {', '.join(known)}." for name in unknown}
                )
        return super().to_internal_value(data)
