"""The base of every campaign-file model: unknown keys are errors, values are frozen, numbers are finite,
and a yes/no value is never read as a number (nor a number as yes/no)."""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

_NUMBERS = (int, float)
#: Validation context key (`{STORED: True}`) of a campaign read back from Redis, not from a campaign file:
#: a rule added since (a bound, a naming rule) must not make a campaign an older release stored unreadable.
STORED = "stored"


def stored(info: ValidationInfo) -> bool:
    """Whether the model is being read back from Redis (submitted by this or an older release)."""
    return bool(info.context and info.context.get(STORED))


def _kinds(annotation: Any) -> set[Any]:
    """The plain types a field's annotation admits (through Optional, unions and Annotated); `Any` when
    it admits anything (Literal values, models, containers count as other kinds)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return set().union(*(_kinds(a) for a in get_args(annotation)))
    if origin is Literal:
        return {type(v) for v in get_args(annotation)}
    if annotation is type(None):
        return set()
    return {annotation if isinstance(annotation, type) else Any}


class Strict(BaseModel):
    # allow_inf_nan=False: `.inf` or `.nan` for any number of the file is an error, never stored as null.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _yes_no_is_not_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML reads `yes`, `on`, `true` as true: pydantic would take it for 1 where a number goes (a
        daily quota of 1, a share of 1.0). And a number where only yes/no goes is refused too."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        kinds = _kinds(field.annotation)
        if isinstance(value, bool):
            if bool not in kinds and kinds and kinds <= {int, float}:
                raise ValueError(f"expected a number, got {str(value).lower()} (a yes/no value)")
        elif isinstance(value, _NUMBERS) and kinds == {bool}:
            raise ValueError(f"expected true or false, got {value!r}")
        return value
