"""An invoice's version tag: what ``If-Match`` is checked against and ``ETag`` carries."""

from __future__ import annotations

import hashlib

from gateway import jsonwire
from gateway.canonical.model import Invoice

# Fields that change without the invoice changing (the clock, the gateway's own check).
VOLATILE = frozenset({"overdue", "totals_check", "remote_data", "connection", "provider"})


def content_json(invoice: Invoice) -> bytes:
    """The invoice's JSON without its volatile fields: what the digest tag is taken from, and
    the first part of the answer the HTTP API writes (so the tag costs no second rendering)."""
    return jsonwire.model_json(invoice, VOLATILE)


def tag_of(invoice: Invoice, content: bytes) -> str:
    """The tag, given ``content_json(invoice)``: the provider's record version where it keeps
    one; else a digest of the content."""
    if invoice.version is not None:
        return f'"{invoice.version}"'
    return 'W/"' + hashlib.sha256(content).hexdigest()[:20] + '"'


def version_tag(invoice: Invoice) -> str:
    if invoice.version is not None:
        return f'"{invoice.version}"'
    return tag_of(invoice, content_json(invoice))
