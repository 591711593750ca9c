"""The base of every recipe section: frozen, unknown keys refused, YAML's `true` never taken as a number."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from mlscale.masking import mask_secrets

NUMBERS = (int, float, int | None, float | None)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: Any) -> Any:
        """YAML's `true` is not a number: pydantic's lax mode would take it as 1."""
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation in NUMBERS:
            raise ValueError(f"expected a number, got {value}")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """A section as Python prints it (a RunResult in a notebook) shows no credentials."""
        for name, value in super().__repr_args__():
            yield name, mask_secrets(value, name or "")
