"""What a provider can carry: strict refusal or lenient dropping of the rest (docs/facade.md).

Every writable canonical field has a path (``discount.amount``, ``lines.unit``…); a provider's
mapping lists the paths it can carry in ``capabilities.fields``. A value in any other path is
reported with a JSON pointer: under ``strict`` as ``UnsupportedFields`` (a 422), under
``lenient`` dropped from the invoice and listed as a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from adapters.base import Capabilities, Handling, UnsupportedFields, WriteWarning
from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice, Line, Tax, with_fields

# path → what it is, for messages ("crm_v1 cannot carry a document-level amount discount")
LABELS: dict[str, str] = {
    "number": "an invoice number chosen by the caller",
    "customer.id": "a customer id",
    "customer.name": "a customer name",
    "issue_date": "an issue date",
    "due_date": "a due date",
    "currency": "a currency",
    "exchange_rate": "an exchange rate",
    "discount.percent": "a document-level percent discount",
    "discount.amount": "a document-level amount discount",
    "shipping": "a shipping amount",
    "adjustment": "an adjustment",
    "reference": "a reference (PO number)",
    "notes": "notes",
    "terms": "terms",
    "billing_address": "a billing address",
    "shipping_address": "a shipping address",
    "tags": "tags",
    "order_id": "an order link",
    "payments": "payments on a write",
    "lines.section": "section (heading) lines",
    "lines.item_id": "an item id on a line",
    "lines.name": "a line name",
    "lines.description": "a line description",
    "lines.unit": "a line unit",
    "lines.discount.percent": "a percent line discount",
    "lines.discount.amount": "an amount line discount",
    "lines.taxes": "line taxes",
    "document_type.credit_note": "a credit note written as a body (document_type credit_note)",
    "credited_invoice_id": "a link to a credited invoice (credited_invoice_id)",
}
# Never dropped under lenient: what they say changes the meaning of every amount (prices in the
# other tax mode; a credit note written as an invoice turns money given back into money owed).
NEVER_DROPPED = frozenset({"/tax_mode", "/document_type"})

SIMPLE_FIELDS = (
    "number",
    "issue_date",
    "due_date",
    "exchange_rate",
    "reference",
    "notes",
    "terms",
    "billing_address",
    "shipping_address",
    "order_id",
)
_LINE_FIELDS = ("item_id", "name", "description", "unit")


# The name the provider gives a tax (its configured tax's), or None where it keeps no name.
TaxNames = Callable[[Tax], str | None]


def fit(
    invoice: Invoice,
    capabilities: Capabilities,
    provider: str,
    handling: Handling,
    tax_names: TaxNames | None = None,
) -> tuple[Invoice, list[WriteWarning]]:
    """The invoice as the provider can carry it, and what was dropped (lenient only).
    ``tax_names``: the provider's name for a tax, where it names its taxes itself (a line tax
    the caller names otherwise is one it cannot carry: read back, it bears the provider's)."""
    problems = unrepresentable(invoice, capabilities, provider)
    if tax_names is not None and not capabilities.taxes_by_item:
        problems += _tax_name_problems(invoice, tax_names, provider)
    if not problems:
        return invoice, []
    kept = [p for p in problems if p.pointer in NEVER_DROPPED]
    if handling == "strict" or kept:
        # Lenient handling is suggested only where it would help.
        hint = (
            "" if kept else f" (send Prefer: handling=lenient to drop what {provider} cannot carry)"
        )
        raise UnsupportedFields(
            f"{(kept or problems)[0].detail}{hint}", problems, provider=provider
        )
    return _drop(invoice, problems, capabilities, tax_names), [
        WriteWarning(p.pointer, p.detail) for p in problems
    ]


def empties_kept(invoice: Invoice, caps: Capabilities) -> bool:
    """Whether a replace sends null for a field the provider keeps instead (``update_keeps``).
    Only a null sent counts: a body that leaves the field out says nothing about it."""
    return any(_sent_null(invoice, name) for name in caps.update_keeps)


def _sent_null(invoice: Invoice, name: str) -> bool:
    return name in invoice.model_fields_set and getattr(invoice, name) is None


def kept_on_update(
    invoice: Invoice, current: Invoice, caps: Capabilities, provider: str, handling: Handling
) -> list[WriteWarning]:
    """A replace that sends null for a field the provider cannot empty on an update while the
    invoice has a value there: the provider would keep that value. Strict: ``UnsupportedFields``
    before anything is sent; lenient: the warnings, and the value stays."""
    problems = [
        FieldError(
            f"/{name}",
            f"{provider} cannot empty {LABELS[name]} on an update: the invoice keeps {value}",
        )
        for name in sorted(caps.update_keeps)
        if _sent_null(invoice, name) and (value := getattr(current, name)) is not None
    ]
    if problems and handling == "strict":
        raise UnsupportedFields(
            f"{problems[0].detail} (send the value it should have, or Prefer: handling=lenient "
            "to keep it)",
            problems,
            provider=provider,
        )
    return [WriteWarning(p.pointer, p.detail) for p in problems]


def unseen_item_taxes(invoice: Invoice, caps: Capabilities, provider: str) -> list[WriteWarning]:
    """Where the provider taxes each line by its item (``taxes_by_item``): a warning on each
    item line that totals computed here use the taxes sent, which the provider may not apply."""
    if not caps.taxes_by_item:
        return []
    reason = (
        f"{provider} taxes this line by its item's tax code, which only {provider} knows: "
        "these totals use the taxes sent (a create answers what it applied)"
    )
    return [
        WriteWarning(f"/lines/{i}/taxes", reason)
        for i, line in enumerate(invoice.lines)
        if line.kind == "item"
    ]


def too_few_lines(invoice: Invoice, capabilities: Capabilities, provider: str) -> str | None:
    """Why the provider's create would refuse ``invoice`` for its lines' count
    (``capabilities.min_lines``); None when it has enough."""
    some = _lines_wanted(invoice, capabilities)
    if some is None:
        return None
    has = f"{len(invoice.lines)} line(s)" if invoice.lines else "no lines"
    return f"the target needs {some}: {provider} refuses an invoice with {has}"


def line_count_errors(
    invoice: Invoice, capabilities: Capabilities, provider: str
) -> list[FieldError]:
    """The write's refusal, before anything is sent, of fewer lines than the provider takes."""
    some = _lines_wanted(invoice, capabilities)
    return [] if some is None else [FieldError("/lines", f"{provider} needs {some}")]


def _lines_wanted(invoice: Invoice, capabilities: Capabilities) -> str | None:
    wanted = capabilities.min_lines
    if len(invoice.lines) >= wanted:
        return None
    return "at least one line" if wanted == 1 else f"at least {wanted} lines"


def drop_unchanged(
    invoice: Invoice, current: Invoice, caps: Capabilities, provider: str
) -> Invoice:
    """Drop the fields the provider cannot carry whose value is the one it already holds.

    An invoice read from the API and written back carries provider-owned values (a number the
    provider assigned, say); sending them back unchanged loses nothing, so they are not refused.
    """
    mine, theirs = invoice.model_dump(mode="json"), current.model_dump(mode="json")
    unchanged = [
        problem
        for problem in unrepresentable(invoice, caps, provider)
        if problem.pointer != "/tax_mode"
        and _at(mine, problem.pointer) == _held(theirs, mine, problem.pointer)
    ]
    return _drop(invoice, unchanged, caps) if unchanged else invoice


def _held(theirs: dict[str, Any], mine: dict[str, Any], pointer: str) -> Any:
    """What the current invoice holds where ``pointer`` points in the one sent; a line's field
    from the current line with the sent line's id (a replace may reorder or drop lines), by
    position only for a line without an id."""
    parts = pointer.strip("/").split("/")
    if len(parts) < 3 or parts[0] != "lines" or not parts[1].isdigit():
        return _at(theirs, pointer)
    sent = _at(mine, f"/lines/{parts[1]}")
    line_id = sent.get("id") if isinstance(sent, dict) else None
    if line_id is None:
        return _at(theirs, pointer)
    same = [line for line in theirs.get("lines") or [] if line.get("id") == line_id]
    return _at(same[0], "/" + "/".join(parts[2:])) if same else None


def _at(document: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        if isinstance(document, list):
            index = int(part)
            document = document[index] if index < len(document) else None
        elif isinstance(document, dict):
            document = document.get(part)
        else:
            return None
    return document


def unrepresentable(invoice: Invoice, caps: Capabilities, provider: str) -> list[FieldError]:
    """Every field with a value the provider cannot carry, with a pointer and a reason."""
    found: list[FieldError] = []

    def check(path: str, pointer: str, present: bool, advice: str = "") -> None:
        if present and path not in caps.fields:
            found.append(FieldError(pointer, f"{provider} cannot carry {LABELS[path]}{advice}"))

    for name in SIMPLE_FIELDS:
        check(name, f"/{name}", getattr(invoice, name) is not None)
    if invoice.customer is not None:
        check("customer.id", "/customer/id", invoice.customer.id is not None)
        check("customer.name", "/customer/name", invoice.customer.name is not None)
    if invoice.discount is not None:
        check(f"discount.{invoice.discount.type}", "/discount", True)
    check("shipping", "/shipping", invoice.shipping != 0)
    check("adjustment", "/adjustment", invoice.adjustment is not None)
    check("tags", "/tags", bool(invoice.tags))
    # The way to them where the provider records payments; elsewhere there is none to name.
    through = " (record them through the payments resource)" if "create" in caps.payments else ""
    check("payments", "/payments", bool(invoice.payments), through)
    found += _document_type_problems(invoice, caps, provider)
    if invoice.tax_mode not in caps.tax_modes:
        found.append(
            FieldError("/tax_mode", f"{provider} cannot carry tax_mode {invoice.tax_mode}")
        )
    for i, line in enumerate(invoice.lines):
        found += _line_problems(i, line, caps, provider, check)
    return found


def carries_document_type(caps: Capabilities, kind: str) -> bool:
    """Whether a create's body can carry a document of ``kind`` (an invoice always)."""
    return kind == "invoice" or f"document_type.{kind}" in caps.fields


def _document_type_problems(
    invoice: Invoice, caps: Capabilities, provider: str
) -> list[FieldError]:
    """A credit note, or a link to a credited invoice, where the provider takes neither in a
    body (no provider does: draft_publish makes credit notes from an invoice, an action)."""
    found: list[FieldError] = []
    kind = invoice.document_type
    if not carries_document_type(caps, kind):
        how = (
            "; make one with the credit_note action on the invoice it credits"
            if kind == "credit_note" and "credit_note" in caps.actions
            else ""
        )
        what = (
            LABELS["document_type.credit_note"] if kind == "credit_note" else f"a {kind} document"
        )
        found.append(FieldError("/document_type", f"{provider} cannot carry {what}{how}"))
    if invoice.credited_invoice_id is not None and "credited_invoice_id" not in caps.fields:
        found.append(
            FieldError(
                "/credited_invoice_id", f"{provider} cannot carry {LABELS['credited_invoice_id']}"
            )
        )
    return found


def _line_problems(
    i: int, line: Line, caps: Capabilities, provider: str, check: Any
) -> list[FieldError]:
    found: list[FieldError] = []
    at = f"/lines/{i}"
    if line.kind == "section":
        check("lines.section", at, True)
        # What a section may hold beside its name: a provider that keeps sections but not
        # these (crm_v1's unit) would drop them unsaid.
        for name in ("description", "unit"):
            check(f"lines.{name}", f"{at}/{name}", getattr(line, name) is not None)
        return found
    for name in _LINE_FIELDS:
        check(f"lines.{name}", f"{at}/{name}", getattr(line, name) is not None)
    if line.discount is not None:
        check(f"lines.discount.{line.discount.type}", f"{at}/discount", True)
    if not line.taxes:
        return found
    if "lines.taxes" not in caps.fields:
        check("lines.taxes", f"{at}/taxes", True)
        return found
    if len(line.taxes) > caps.max_line_taxes:
        found.append(
            FieldError(
                f"{at}/taxes",
                f"{provider} carries at most {caps.max_line_taxes} tax(es) per line",
            )
        )
    if not caps.compound_taxes:
        found += [
            FieldError(f"{at}/taxes/{j}/compound", f"{provider} cannot carry compound taxes")
            for j, tax in enumerate(line.taxes)
            if tax.compound
        ]
    return found


def _tax_name_problems(invoice: Invoice, tax_names: TaxNames, provider: str) -> list[FieldError]:
    """Each line tax whose name is not the one the provider gives it: the provider stores the
    tax by its id, and the invoice read back names it as the provider does."""
    found = []
    for i, line in enumerate(invoice.lines):
        for j, tax in enumerate(line.taxes):
            theirs = tax_names(tax) if tax.name is not None else None
            if theirs is not None and theirs != tax.name:
                found.append(
                    FieldError(
                        f"/lines/{i}/taxes/{j}/name",
                        f"{provider} names this tax {theirs!r} and cannot carry another name: "
                        f"leave the name out, or send {theirs!r}",
                    )
                )
    return found


def _drop(
    invoice: Invoice,
    problems: list[FieldError],
    caps: Capabilities,
    tax_names: TaxNames | None = None,
) -> Invoice:
    """Remove each reported field (lenient handling); a tax's name becomes the provider's."""
    header: dict[str, Any] = {}
    line_updates: dict[int, dict[str, Any]] = {}
    dropped_lines: set[int] = set()
    for problem in problems:
        parts = problem.pointer.strip("/").split("/")
        if parts[0] != "lines":
            header.update(_header_removal(invoice, parts))
            continue
        index = int(parts[1])
        line = invoice.lines[index]
        if len(parts) == 2:
            dropped_lines.add(index)  # a section line: the only whole-line problem
        elif parts[2] == "taxes" and len(parts) == 3:
            taxes = line_updates.setdefault(index, {}).get("taxes", line.taxes)
            line_updates[index]["taxes"] = taxes[: caps.max_line_taxes]
        elif parts[2] == "taxes":
            taxes = line_updates.setdefault(index, {}).get("taxes", line.taxes)
            j = int(parts[3])
            if j >= len(taxes):
                continue  # a tax past the line's limit, dropped whole already
            change: dict[str, Any] = {"compound": False}
            if parts[4] == "name" and tax_names is not None:
                change = {"name": tax_names(taxes[j])}
            line_updates[index]["taxes"] = [
                tax.model_copy(update=change) if k == j else tax for k, tax in enumerate(taxes)
            ]
        else:
            line_updates.setdefault(index, {})[parts[2]] = None
    # A line with nothing dropped is the same line: canonical models are never changed in place.
    lines = [
        with_fields(line, line_updates[i]) if i in line_updates else line
        for i, line in enumerate(invoice.lines)
        if i not in dropped_lines
    ]
    return with_fields(invoice, {**header, "lines": lines})


def _header_removal(invoice: Invoice, parts: list[str]) -> dict[str, Any]:
    name = parts[0]
    if name == "customer" and invoice.customer is not None:
        customer = invoice.customer.model_copy(update={parts[1]: None})
        return {"customer": customer}
    if name == "shipping":
        return {"shipping": Decimal(0)}
    if name == "document_type":
        return {"document_type": "invoice"}  # the default: what a body that says nothing means
    if name in ("tags", "payments"):
        return {name: []}
    return {name: None}
