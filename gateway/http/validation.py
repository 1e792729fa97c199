"""Validating requests: body fields against canonical models (422) and query parameters (400),
with a pointer to every bad one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Set as AbstractSet
from typing import Any, TypeVar
from urllib.parse import quote

from multidict import MultiMapping
from pydantic import BaseModel, ValidationError

from gateway.canonical.errors import FieldError, InvalidInvoice, pointer_to_path
from gateway.http.problems import Problem

ModelT = TypeVar("ModelT", bound=BaseModel)


def validation_problem(errors: list[FieldError]) -> Problem:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    said = f"{pointer_to_path(first.pointer)} {first.detail}".lstrip()  # "/": the whole body
    return Problem("validation_error", f"{said}{more}", errors=errors)


def parse(
    model: type[ModelT], data: Any, errors: list[FieldError], *, at: str = ""
) -> ModelT | None:
    """The model; or ``None``, with its field errors added to ``errors`` (pointers under ``at``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # The body's own currency, where the model has one (a payment's is its invoice's).
        owned = isinstance(data, dict) and "currency" in model.model_fields
        currency = data.get("currency") if owned else None
        found = InvalidInvoice.from_pydantic(exc, currency=currency).errors
        errors += [FieldError(at + e.pointer, e.detail) for e in found]
        return None


def query_pointer(name: str) -> str:
    """Where a query parameter's error points: ``#/query/<name>``, an RFC 6901 pointer in its
    URI fragment form (RFC 9457's own examples use it) into the query as an object. Body
    pointers have no ``#`` (``/lines/0/quantity``), so the two can never be mistaken."""
    token = name.replace("~", "~0").replace("/", "~1")
    return "#/query/" + quote(token, safe="~!$&'()*+,;=:@-._")


# Query parameters a route reads every value of (``expand=a&expand=b``); any other is read once.
REPEATABLE = frozenset({"expand"})


def refuse_unknown(
    params: MultiMapping[str],
    allowed: AbstractSet[str],
    *,
    repeatable: AbstractSet[str] = REPEATABLE,
) -> None:
    """400 naming every query parameter the route does not take, then every one it reads once
    that is given more than once (``status=open&status=paid``): which value was meant cannot be
    told, and keeping one would answer a question the caller did not ask."""
    names = [name for name, _ in params.items()]  # iterating a multidict names each once
    unknown = sorted(set(names) - allowed)
    if unknown:
        raise query_problem(
            dict.fromkeys(unknown, "is not a query parameter of this route"),
            f"Unknown query parameter(s): {', '.join(n or '(one with no name)' for n in unknown)}.",
        )
    repeated = sorted(
        name for name, n in Counter(names).items() if n > 1 and name not in repeatable
    )
    if repeated:
        raise query_problem(
            dict.fromkeys(repeated, "is given more than once; give it once"),
            f"{', '.join(repeated)}: given more than once; give each parameter once.",
        )


def cursor_problem(reason: Exception) -> Problem:
    """400 pointing at ``#/query/cursor``; ``reason`` says "cursor is not valid (…)"."""
    detail = str(reason).removeprefix("cursor ")
    return query_problem({"cursor": detail}, f"cursor: {detail}.")


def query_problem(details: dict[str, str], summary: str | None = None) -> Problem:
    """400 ``bad_request`` with one error per bad query parameter (name → what is wrong)."""
    errors = [FieldError(query_pointer(name), detail) for name, detail in details.items()]
    if summary is None:
        summary = "; ".join(f"{name} {detail}" for name, detail in details.items()) + "."
    return Problem("bad_request", summary, errors=errors)
