"""An invoice's version tag: what ``If-Match`` is checked against and ``ETag`` carries."""

from __future__ import annotations

import hashlib

from gateway.canonical.model import Invoice

# Fields that change without the invoice changing (the clock, the gateway's own check).
_VOLATILE = {"overdue", "totals_check", "remote_data", "connection", "provider"}


def version_tag(invoice: Invoice) -> str:
    """The provider's record version where it keeps one; else a digest of the invoice's content."""
    if invoice.version is not None:
        return f'"{invoice.version}"'
    content = invoice.model_dump_json(exclude=_VOLATILE)
    return 'W/"' + hashlib.sha256(content.encode()).hexdigest()[:20] + '"'
