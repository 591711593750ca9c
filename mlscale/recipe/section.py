"""The base of every recipe section: frozen, unknown keys refused, YAML's `true` never taken as a number.

A section names the keys that lead somewhere (`endpoints`: an address, a URI, a hook, an output path) and
how each is guarded; `mlscale.recipe.trust` collects them from every section, the engines' included, and
their form is checked here, so a value the parsers could read two ways never validates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

from mlscale.recipe.endpoint import Guard, check_form

NUMBERS = (int, float, int | None, float | None)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoints: ClassVar[Mapping[str, Guard]] = {}
    """Keys of this section that lead somewhere, with how each is guarded (see mlscale.recipe.trust)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: Any) -> Any:
        """YAML's `true` is not a number: pydantic's lax mode would take it as 1."""
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation in NUMBERS:
            raise ValueError(f"expected a number, got {value}")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _endpoint_form(cls, value: Any, info: Any) -> Any:
        """An address or URI whose host the parsers could read two ways is refused."""
        guard = cls.endpoints.get(info.field_name)
        if guard is not None and isinstance(value, str):
            check_form(guard.kind, value)
        return value
