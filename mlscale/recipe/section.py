"""The base of every recipe section: frozen, unknown keys refused, YAML's `true` never taken as a number,
and YAML 1.1's bare on/off/yes/no (read as true/false) taken as the word for every field of named choices.

A section names the keys that lead somewhere (`endpoints`: an address, a URI, a hook, an output path) and
how each is guarded; `mlscale.recipe.trust` collects them from every section, the engines' included, and
their form is checked here, so a value the parsers could read two ways never validates.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from mlscale.recipe.endpoint import Guard, check_form
from mlscale.util.masking import mask_secrets

NUMBERS = (int, float, int | None, float | None, int | float | None)
# The words YAML 1.1 reads as true / false (PyYAML: yes/no, on/off, true/false in any case).
YAML_BOOL_WORDS = {True: ("on", "yes", "true"), False: ("off", "no", "false")}


def choices(annotation: Any) -> tuple[Any, ...]:
    """The values of a field of named choices (a Literal, optional or not); () for any other field."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return tuple(v for arg in typing.get_args(annotation) for v in choices(arg))
    return ()


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoints: ClassVar[Mapping[str, Guard]] = {}
    """Keys of this section that lead somewhere, with how each is guarded (see mlscale.recipe.trust)."""

    @field_validator("*", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any, info: Any) -> Any:
        """YAML's `true` is not a number: pydantic's lax mode would take it as 1. For a field of named
        choices, a bare `off` (or `no`, `false`) read by YAML as false is the choice 'off' (or 'no',
        'false') where the field has one; likewise for true."""
        if not isinstance(value, bool):
            return value
        annotation = cls.model_fields[info.field_name].annotation
        if annotation in NUMBERS:
            raise ValueError(f"expected a number, got {value}")
        named = choices(annotation)
        return next((word for word in YAML_BOOL_WORDS[value] if word in named), value)

    @field_validator("*", mode="after")
    @classmethod
    def _endpoint_form(cls, value: Any, info: Any) -> Any:
        """An address or URI whose host the parsers could read two ways is refused."""
        guard = cls.endpoints.get(info.field_name)
        if guard is not None and isinstance(value, str):
            check_form(guard.kind, value)
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """A section as Python prints it (a RunResult in a notebook) shows no credentials."""
        for name, value in super().__repr_args__():
            yield name, mask_secrets(value, name or "")
