"""The base of every campaign-file model: unknown keys are errors, values are frozen, numbers are finite."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # allow_inf_nan=False: `.inf` or `.nan` for any number of the file is an error, never stored as null.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)
