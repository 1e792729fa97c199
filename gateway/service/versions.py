"""An invoice's version tag: what ``If-Match`` is checked against and ``ETag`` carries."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict

from gateway import jsonwire
from gateway.canonical.model import Invoice

# Fields that change without the invoice changing (the clock, the gateway's own check).
VOLATILE = frozenset({"overdue", "totals_check", "remote_data", "connection", "provider"})
# Written after the content: the volatile fields but remote_data (written only when asked for).
_NOT_TAIL = frozenset(Invoice.model_fields) - (VOLATILE - {"remote_data"})
# The last invoices written, each held (so no other object takes its id while kept): a write's
# answer is stored and then sent, and an unchanged invoice read again is the same object
# (``adapters.read_cache``); canonical invoices are never changed in place.
_WRITTEN: OrderedDict[int, tuple[Invoice, bytes, bytes]] = OrderedDict()
_KEEP = 256


def answer_json(invoice: Invoice) -> tuple[bytes, bytes]:
    """``content_json(invoice)``, and the invoice's JSON without ``remote_data`` that starts
    with it (the content, then the volatile fields): what the HTTP API answers and what a
    write's kept outcome holds, written once per invoice object by pydantic-core."""
    kept = _WRITTEN.get(id(invoice))
    if kept is not None and kept[0] is invoice:
        _WRITTEN.move_to_end(id(invoice))
        return kept[1], kept[2]
    content = content_json(invoice)
    body = content[:-1] + b"," + jsonwire.model_json(invoice, _NOT_TAIL)[1:]
    _WRITTEN[id(invoice)] = (invoice, content, body)
    if len(_WRITTEN) > _KEEP:
        _WRITTEN.popitem(last=False)
    return content, body


def content_json(invoice: Invoice) -> bytes:
    """The invoice's JSON without its volatile fields: what the digest tag is taken from, and
    the first part of the answer the HTTP API writes (so the tag costs no second rendering)."""
    return jsonwire.model_json(invoice, VOLATILE)


# What an entity-tag may hold between its quotes (RFC 9110 ``etagc``: no quote, no control
# character, no space): a provider's version of anything else is no header value.
_ETAGC = re.compile(r"[\x21\x23-\x7e]+")


def tag_of(invoice: Invoice, content: bytes | None) -> str:
    """The tag: the provider's record version where it keeps one that an entity-tag can hold;
    else a digest of ``content_json(invoice)`` (``content``, where the caller has it)."""
    version = _version(invoice)
    if version is not None:
        return f'"{version}"'
    written = content if content is not None else content_json(invoice)
    return 'W/"' + hashlib.sha256(written).hexdigest()[:20] + '"'


def version_tag(invoice: Invoice) -> str:
    return tag_of(invoice, None)


def _version(invoice: Invoice) -> str | None:
    """The provider's version as an entity-tag's text; None where it has none, or one that
    would break the header (a quote, a line break: the digest stands in for it)."""
    version = invoice.version
    if version is None or _ETAGC.fullmatch(str(version)) is None:
        return None
    return str(version)
