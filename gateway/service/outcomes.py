"""What a write answers, and how that answer is kept with its Idempotency-Key and replayed.

An ``Outcome`` is the use case's answer, free of HTTP: the invoice written (and whether it is a
new document), a deletion, or a note. Final errors the provider gave (it refused the fields, the
invoice does not exist) are answers too and are kept the same way, so that a retry replays them
instead of writing. Both are stored as plain JSON and read back into the same objects, so a
replay renders exactly as the first answer did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from adapters.base import WriteWarning
from gateway import errors, jsonwire
from gateway.canonical.decimals import provider_figures
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice
from gateway.service.versions import answer_json

OutcomeKind = Literal["invoice", "deleted", "note", "batch"]


def invoice_record(invoice: Invoice) -> jsonwire.RawJson:
    """The invoice as kept: as the HTTP API writes it (``answer_json``, the same bytes, written
    once), with ``remote_data`` as the provider sent it (numbers stay numbers)."""
    _, body = answer_json(invoice)
    return jsonwire.RawJson(jsonwire.with_payload(body, "remote_data", invoice.remote_data))


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    invoice: Invoice | None = None
    warnings: list[WriteWarning] = field(default_factory=list)
    created: bool = False  # a new document (201): a create, a duplicate, a payment recorded
    note: Any = None
    replayed: bool = False  # the stored answer of an earlier request with the same key
    resolved: str | None = None  # how a lost answer was found again, when it was
    batch: dict[str, Any] | None = None  # a batch's action and per-id results (JSON)
    # ``invoice`` is the provider's answer to a read sent after the write's last write call,
    # in this request (never on a replay: not stored). Its reader may take it as a fresh read.
    read_back: bool = False
    # What the store keeps as this write's making beside its answer, for other writes' lookups
    # (``Store.finish``'s ``made``): a payment recorded (``payment_made``). A create's is the
    # invoice it answers. Never stored in the answer.
    made: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "created": self.created}
        if self.invoice is not None:
            data["invoice"] = invoice_record(self.invoice)
        if self.warnings:
            data["warnings"] = [w.as_dict() for w in self.warnings]
        if self.note is not None:
            data["note"] = self.note
        if self.resolved is not None:
            data["resolved"] = self.resolved
        if self.batch is not None:
            data["batch"] = self.batch
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], *, replayed: bool = True) -> Outcome:
        invoice = data.get("invoice")
        if invoice is not None:
            # What was answered: the provider's figures among it are read as they are, whatever
            # their size or places (a figure past a caller's bounds is no reason to fail a retry).
            with provider_figures():
                invoice = Invoice.model_validate(invoice)
        return cls(
            kind=data["kind"],
            invoice=invoice,
            warnings=[WriteWarning(w["field"], w["reason"]) for w in data.get("warnings", [])],
            created=bool(data.get("created")),
            note=data.get("note"),
            replayed=replayed,
            resolved=data.get("resolved"),
            batch=data.get("batch"),
        )


# -- final errors, kept and replayed ------------------------------------------------------------

_ERRORS: dict[str, type[errors.AdapterError]] = {
    cls.__name__: cls
    for cls in (
        errors.AdapterError,
        errors.BadIdentifier,
        errors.NotFound,
        errors.Conflict,
        errors.PreconditionFailed,
        errors.InvalidRequest,
        errors.UnsupportedFields,
        errors.NotSupported,
        errors.UpstreamError,
        errors.UpstreamAuthFailed,
        errors.UpstreamUnavailable,
        errors.UpstreamTimeout,
        errors.OutcomeUncertain,
    )
}


def error_to_json(error: errors.AdapterError) -> dict[str, Any]:
    """The error as JSON, under the nearest class of the shared tree (adapters subclass it)."""
    kind = next(cls.__name__ for cls in type(error).__mro__ if cls.__name__ in _ERRORS)
    data: dict[str, Any] = {
        "kind": "error",
        "class": kind,
        "message": error.message,
        "provider": error.provider,
    }
    if isinstance(error, errors.InvalidRequest):
        data["errors"] = [e.as_dict() for e in error.errors]
    if isinstance(error, errors.NotSupported):
        data["operation"] = error.operation
    if isinstance(error, errors.UpstreamError):
        data["status"] = error.status
        data["retryable"] = error.retryable  # an instance's own word (a refusal with no status)
    return data


def error_from_json(data: dict[str, Any]) -> errors.AdapterError:
    cls = _ERRORS.get(data.get("class", ""), errors.AdapterError)
    message, provider = data["message"], data.get("provider")
    error: errors.AdapterError
    if issubclass(cls, errors.InvalidRequest):
        fields = [FieldError(e["pointer"], e["detail"]) for e in data.get("errors", [])]
        error = cls(message, fields, provider=provider)
    elif issubclass(cls, errors.NotSupported):
        error = cls(data.get("operation", message), provider=provider or "the provider")
        error.message = message
    elif issubclass(cls, errors.UpstreamError):
        error = cls(message, provider=provider, status=data.get("status"))
        if isinstance(data.get("retryable"), bool):
            error.retryable = data["retryable"]
    else:
        error = cls(message, provider=provider)
    error.replayed = True
    return error


def is_error(data: dict[str, Any]) -> bool:
    return data.get("kind") == "error"
