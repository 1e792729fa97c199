"""Validating request bodies against canonical models: 422 with a pointer to every bad field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gateway.canonical.errors import FieldError, InvalidInvoice, pointer_to_path
from gateway.http.problems import Problem

ModelT = TypeVar("ModelT", bound=BaseModel)


def validation_problem(errors: list[FieldError]) -> Problem:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Problem(
        "validation_error", f"{pointer_to_path(first.pointer)} {first.detail}{more}", errors=errors
    )


def parse(
    model: type[ModelT], data: Any, errors: list[FieldError], *, at: str = ""
) -> ModelT | None:
    """The model; or ``None``, with its field errors added to ``errors`` (pointers under ``at``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors += [
            FieldError(at + e.pointer, e.detail) for e in InvalidInvoice.from_pydantic(exc).errors
        ]
        return None
