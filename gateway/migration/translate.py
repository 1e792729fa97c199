"""A source invoice as the target connection will take it: references mapped, nothing guessed.

What describes the document is carried: dates, currency, lines (names, quantities, prices,
discounts, taxes), discounts, shipping, adjustment, reference, notes, terms, addresses, tags,
number. What only means something at the source is left behind: its ids, its provider_fields,
its order link, the customer's name (the target's customer record has its own), notes that are
only the gateway's dedupe marker. References are mapped through the ``--map`` file: a customer,
an item or a tax with no mapping (and a tax with no rate in the target's tax table) makes the
invoice a skip, with the reason. Status and payments are not part of the create: ``copy.py``
carries them afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from adapters.base import Adapter, Handling, WriteWarning
from adapters.caller_lines import caller_pointer, sent_lines
from adapters.representable import NEVER_DROPPED, carries_document_type, fit, too_few_lines
from adapters.resolution import is_marker
from gateway.canonical.model import Customer, Invoice, Line, Tax, with_fields
from gateway.errors import UnsupportedFields
from gateway.migration import origin
from gateway.migration.references import ANY, ReferenceMap


@dataclass(frozen=True)
class Translation:
    """The invoice to create at the target, or why not (``skipped``)."""

    invoice: Invoice | None  # what the create sends (under lenient, without what was dropped)
    warnings: list[WriteWarning] = field(default_factory=list)
    skipped: str | None = None  # the reason, naming what to fix
    unmapped: list[str] = field(default_factory=list)
    # The source's index of each line sent (lenient handling drops section lines a target
    # cannot carry): None when every line is sent, in order
    sent_lines: tuple[int, ...] | None = None

    def as_source(self, warnings: list[WriteWarning]) -> list[WriteWarning]:
        """The target's warnings about the lines sent, pointing at the source's lines: one
        report entry numbers lines one way (the source invoice's, as its other warnings)."""
        if self.sent_lines is None:
            return warnings
        return [self._renumbered(warning) for warning in warnings]

    def _renumbered(self, warning: WriteWarning) -> WriteWarning:
        assert self.sent_lines is not None
        return WriteWarning(caller_pointer(warning.field, self.sent_lines), warning.reason)


def translate(
    source: Invoice, target: Adapter, refs: ReferenceMap, handling: Handling, *, read_from: Adapter
) -> Translation:
    """``source`` (read through ``read_from``) as the invoice to create at ``target``."""
    if not carries_document_type(target.capabilities, source.document_type):
        # Never copied as an invoice, whatever the handling: that turns a credit into a debt.
        return Translation(None, skipped=_not_an_invoice(source, target))
    missing: list[str] = []
    warnings: list[WriteWarning] = []
    customer = None
    if source.customer is not None and source.customer.id is not None:
        mapped = refs.customer(source.customer.id)
        if mapped is None:
            missing.append(f"customer {source.customer.id} has no mapping in the map's customers")
        customer = Customer(id=mapped)
    lines = [_line(i, line, target, refs, missing) for i, line in enumerate(source.lines)]
    if source.order_id is not None:
        warnings.append(
            WriteWarning("/order_id", f"the link to order {source.order_id} is not copied")
        )
    if missing:
        return Translation(None, skipped="; ".join(missing), unmapped=missing)
    fields: dict[str, Any] = {
        "id": None,
        "connection": None,
        "provider": None,
        "status": None,
        "payment_status": None,
        "provider_status": None,
        "totals": None,
        "totals_check": None,
        "public_url": None,
        "created_at": None,
        "updated_at": None,
        "version": None,
        "remote_data": None,
        "overdue": False,
        "payments": [],
        "order_id": None,
        "customer": customer,
        "lines": lines,
        "provider_fields": dict(refs.provider_fields),
    }
    if source.notes is not None and is_marker(source.notes):
        # The source's bookkeeping, not the customer's words (a read hides it already: this
        # holds for an invoice from anywhere else); the target's create has room for its own.
        fields["notes"] = None
    if source.due_date is None and refs.due_days is not None and source.issue_date is not None:
        fields["due_date"] = source.issue_date + timedelta(days=refs.due_days)
    stamp = target.mapping.migration_stamp
    if stamp == "tags":
        fields["tags"] = [*source.tags, origin.stamp(str(source.connection), source.id)]
    elif stamp is not None and not getattr(source, stamp):
        fields[stamp] = origin.stamp(str(source.connection), source.id)
    invoice = with_fields(source, fields)
    try:
        fitted, dropped = fit(invoice, target.capabilities, target.provider, handling)
    except UnsupportedFields as exc:
        # Named: what stops the copy. --lenient is suggested only where it would help: it
        # never leaves out what changes the meaning of every amount (NEVER_DROPPED).
        kept = [error for error in exc.errors if error.pointer in NEVER_DROPPED]
        stopping = kept or exc.errors
        named = ", ".join(error.pointer for error in stopping)
        how = (
            ", which --lenient never leaves out (it changes every amount's meaning)"
            if kept
            else "; copy with --lenient to leave them out"
        )
        return Translation(
            None, skipped=f"{target.provider} cannot carry {named} ({stopping[0].detail}){how}"
        )
    # Checked on what would be sent (lenient handling may drop section lines): a create the
    # target refuses for its lines is never sent, it is a skip that says why.
    refused = too_few_lines(fitted, target.capabilities, target.provider)
    if refused is not None:
        return Translation(None, skipped=refused)
    sent = sent_lines(len(lines), [warning.field for warning in dropped])
    return Translation(fitted, warnings + dropped + _notes_left_behind(read_from), sent_lines=sent)


def _notes_left_behind(source: Adapter) -> list[WriteWarning]:
    """Notes kept as records of their own (order_linked's ``POST …/notes``, with their files)
    at a source that documents no way to read one back: whatever the invoice has of them stays
    behind, and its report entry says so, as nothing else would (``notes``, the invoice's own
    text, is carried)."""
    caps = source.capabilities
    if not caps.notes or caps.note_read:
        return []
    return [
        WriteWarning(
            "",
            f"{source.provider}'s notes and their files (POST /invoices/{{id}}/notes) cannot be "
            "read back through its API: any this invoice has are not copied; move them by hand",
        )
    ]


def _not_an_invoice(source: Invoice, target: Adapter) -> str:
    """Why a credit note (or a document of unknown type) is a skip, and what to do instead."""
    if source.document_type != "credit_note":
        return (
            f"a document of a type the gateway does not know (see its remote_data): "
            f"{target.provider} cannot take it, and it is not copied as an invoice"
        )
    credits = f" of invoice {source.credited_invoice_id}" if source.credited_invoice_id else ""
    instead = (
        "credit the invoice's copy with the credit_note action instead"
        if "credit_note" in target.capabilities.actions
        else f"{target.provider} has no credit notes: record the credit there by hand"
    )
    return (
        f"a credit note{credits}: {target.provider} cannot create one from a body, and copied "
        f"as an invoice its amounts would count as owed instead of given back; {instead}"
    )


def _line(i: int, line: Line, target: Adapter, refs: ReferenceMap, missing: list[str]) -> Line:
    changes: dict[str, Any] = {
        "id": None,
        "subtotal": None,
        "discount_amount": None,
        "net_amount": None,
        "tax_amount": None,
        "total": None,
        "provider_fields": dict(refs.line_provider_fields),
    }
    keeps = target.capabilities.fields
    if "lines.item_id" not in keeps:
        changes["item_id"] = None  # a target without item records: the line's words carry it
    elif line.item_id is not None:
        mapped = refs.item(line.item_id)
        if mapped is None:
            missing.append(f"lines[{i}]: item {line.item_id} has no mapping in the map's items")
        changes["item_id"] = mapped
    elif line.kind == "item" and ANY in refs.items:
        changes["item_id"] = refs.items[ANY]  # a source without item records: the default item
    changes["taxes"] = [_tax(i, tax, target, refs, missing) for tax in line.taxes]
    # A line's words go where the target keeps them: a name becomes the description at a
    # provider with only descriptions, and the other way round.
    names, words = "lines.name" in keeps, "lines.description" in keeps
    if line.name and not line.description and words and not names:
        changes.update(name=None, description=line.name)
    elif line.description and not line.name and names:
        # A target that names its lines gets the description as the name too (where it has no
        # description field, the name is all that is kept).
        changes.update(name=line.description, description=line.description if words else None)
    return with_fields(line, changes)


def _tax(i: int, tax: Tax, target: Adapter, refs: ReferenceMap, missing: list[str]) -> Tax:
    entry = refs.tax(tax.id, tax.rate)
    if entry is not None:
        key, mapped = entry
        # The target's tax, at the target's rate where its table knows it: a map that sends
        # 7.5% to an 8.25% tax changes the money, and the preview and verification say so.
        known = target.connection.tax_by_id(mapped)
        if known is None and target.connection.taxes:
            # The target names its taxes: one it does not know is the map's mistake to mend,
            # not a tax for the connection's configuration (as the create would say).
            configured = ", ".join(t.id for t in target.connection.taxes)
            missing.append(
                f"lines[{i}]: the map's taxes send {key} to "
                f"{mapped}, which {target.connection.name} has no tax with (its taxes: "
                f"{configured}); fix the map"
            )
            return tax
        if known is None:
            return Tax(id=mapped, name=tax.name, rate=tax.rate, compound=tax.compound)
        return Tax(id=mapped, name=known.name or tax.name, rate=known.rate, compound=tax.compound)
    match = target.connection.tax_for_rate(tax.rate, tax.name)
    if match is None and target.connection.taxes:
        named = f"tax {tax.name or tax.id} at" if (tax.name or tax.id) else "a tax of"
        missing.append(
            f"lines[{i}]: {named} {tax.rate}% has no mapping and "
            f"{target.connection.name} has no tax at that rate"
        )
        return tax
    if match is None:
        return Tax(name=tax.name, rate=tax.rate, compound=tax.compound)  # rates go as they are
    return Tax(id=match.id, name=match.name or tax.name, rate=tax.rate, compound=tax.compound)
