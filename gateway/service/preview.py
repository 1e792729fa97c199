"""A create's preview: the invoice as a connection's provider would compute it, nothing sent.

One use case for ``POST …/invoices/preview`` and for a migration's dry run. The invoice is
checked as the create checks it before sending, then fitted as the create would fit it (lenient
handling drops what the provider cannot carry, with warnings), a provider that taxes each line
by its item warns that the taxes sent are used (``capabilities.taxes_by_item``), a tax the
connection's tax table knows by id is named as the provider names it when it reads the invoice
back, and the totals are computed with the provider's rounding.
"""

from __future__ import annotations

from adapters.base import Adapter, Handling, WriteWarning
from adapters.reference import configured_tax
from adapters.representable import unseen_item_taxes
from gateway.canonical.calculated import calculated_invoice
from gateway.canonical.errors import pointer_to_path
from gateway.canonical.model import Invoice, Tax, with_fields
from gateway.errors import InvalidRequest
from gateway.service.sendable import computed_errors, refused_together, unshared_discount


def preview(
    adapter: Adapter, invoice: Invoice, handling: Handling
) -> tuple[Invoice, list[WriteWarning]]:
    """The invoice with its computed amounts, stamped with the connection, and the warnings a
    create would give. Raises what the create's own checks raise before it sends anything
    (``Adapter.check_create``: the fit, and the provider's fields, references, currency and
    required fields), and ``InvalidInvoice`` for an invoice whose amounts cannot be computed:
    a preview that answers 200 is a create that would be sent."""
    try:
        adapter.refuse_marker_lookalikes(invoice)
        adapter.check_create(invoice, handling)
    except InvalidRequest as exc:
        # What the create computes past its bounds is named beside, as the create names it.
        refused = refused_together(exc, computed_errors(adapter, invoice, handling))
        raise adapter.callers_lines(invoice, handling, refused) from None
    # The adapter's own fit, as the create's: a tax named otherwise than the connection names
    # it is renamed (lenient) with a warning, as the create renames it.
    fitted, warnings = adapter.fit(invoice, handling)
    warnings += unseen_item_taxes(invoice, adapter.capabilities, adapter.provider)
    named = _taxes_named(fitted, adapter)
    calculated = calculated_invoice(named, adapter.policy_for(named))
    totals = calculated.totals
    unshared = [] if totals is None else unshared_discount(named, totals, adapter.provider)
    if unshared:
        raise InvalidRequest(
            f"{pointer_to_path(unshared[0].pointer)} {unshared[0].detail}",
            unshared,
            provider=adapter.provider,
        )
    stamped = calculated.model_copy(
        update={"connection": adapter.connection.name, "provider": adapter.provider}
    )
    return stamped, warnings


def _taxes_named(invoice: Invoice, adapter: Adapter) -> Invoice:
    """Each unnamed tax the connection's tax table knows given the name the table gives it: the
    name the invoice, once made, reads back with. By its id; by its rate too where the
    provider is sent a rate alone as the tax of that rate (``Adapter.rate_taxes_by_id``)."""
    lines = [
        with_fields(line, {"taxes": [_tax_named(tax, adapter) for tax in line.taxes]})
        for line in invoice.lines
    ]
    return with_fields(invoice, {"lines": lines})


def _tax_named(tax: Tax, adapter: Adapter) -> Tax:
    if tax.name is not None or (tax.id is None and not adapter.rate_taxes_by_id):
        return tax
    setting = configured_tax(tax, adapter.connection)
    if setting is None or setting.name is None:
        return tax
    return with_fields(tax, {"name": setting.name})
