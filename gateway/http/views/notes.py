"""``/v1/connections/{connection}/invoices/{id}/notes``: a note, with an optional file."""

from __future__ import annotations

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from adapters.base import NoteFile, NotSupported
from gateway.canonical.errors import FieldError
from gateway.http.auth import requires
from gateway.http.keys import SERVICE
from gateway.http.problems import Problem
from gateway.http.validation import validation_problem
from gateway.http.views.common import adapter_for, outcome_response, write_request

MAX_NOTE_FILE_BYTES = 10 * 1024 * 1024


@requires("invoices:write")
async def add_note_view(request: web.Request) -> web.StreamResponse:
    """Multipart: ``note`` (text) and an optional ``file``."""
    adapter = adapter_for(request)
    if not adapter.capabilities.notes:
        raise NotSupported("add notes", provider=adapter.provider)
    if not request.content_type.startswith("multipart/"):
        raise Problem("unsupported_media_type", "Send the note as multipart/form-data.")
    try:
        note, attachment = await _note_parts(request)
    except (ValueError, HttpProcessingError) as exc:  # aiohttp's word for a broken multipart
        raise Problem("bad_request", f"The multipart body is malformed: {exc}.") from None
    outcome = await request.app[SERVICE].add_note(
        write_request(request), request.match_info["invoice_id"], note, attachment
    )
    return outcome_response(outcome, request)


async def _note_parts(request: web.Request) -> tuple[str, NoteFile | None]:
    """``note`` as text and ``file`` as bytes, whether or not the file part names a file."""
    note: str | None = None
    attachment = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "note":
            try:
                note = (await part.read()).decode("utf-8")
            except UnicodeDecodeError:
                raise Problem("bad_request", "note must be UTF-8 text.") from None
        elif part.name == "file":
            content = await part.read()
            if len(content) > MAX_NOTE_FILE_BYTES:
                raise Problem("payload_too_large", "file is over 10 MiB.")
            kind = part.headers.get("Content-Type", "application/octet-stream")
            attachment = NoteFile(part.filename or "attachment", kind, bytes(content))
    if note is None or not note.strip():
        raise validation_problem([FieldError("/note", "is required: the text of the note")])
    return note, attachment
