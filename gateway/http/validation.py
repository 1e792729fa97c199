"""Validating requests: body fields against canonical models (422) and query parameters (400),
with a pointer to every bad one."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Any, TypeVar
from urllib.parse import quote

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


def query_pointer(name: str) -> str:
    """Where a query parameter's error points: ``#/query/<name>``, an RFC 6901 pointer in its
    URI fragment form (RFC 9457's own examples use it) into the query as an object. Body
    pointers have no ``#`` (``/lines/0/quantity``), so the two can never be mistaken."""
    token = name.replace("~", "~0").replace("/", "~1")
    return "#/query/" + quote(token, safe="~!$&'()*+,;=:@-._")


def refuse_unknown(params: Iterable[str], allowed: AbstractSet[str]) -> None:
    """400 naming every query parameter the route does not take."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise query_problem(
            dict.fromkeys(unknown, "is not a query parameter of this route"),
            f"Unknown query parameter(s): {', '.join(unknown)}.",
        )


def query_problem(details: dict[str, str], summary: str | None = None) -> Problem:
    """400 ``bad_request`` with one error per bad query parameter (name → what is wrong)."""
    errors = [FieldError(query_pointer(name), detail) for name, detail in details.items()]
    if summary is None:
        summary = "; ".join(f"{name} {detail}" for name, detail in details.items()) + "."
    return Problem("bad_request", summary, errors=errors)
