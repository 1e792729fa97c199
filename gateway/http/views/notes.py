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
# The whole multipart body: the file, the note and the parts' headers. Counted as it is read,
# so a body that announces no length (or lies about it) is refused at this size, not read whole.
MAX_NOTE_BODY_BYTES = MAX_NOTE_FILE_BYTES + 1024 * 1024
_CHUNK = 64 * 1024


@requires("invoices:write")
async def add_note_view(request: web.Request) -> web.StreamResponse:
    """Multipart: ``note`` (text) and an optional ``file``."""
    adapter = adapter_for(request)
    if not adapter.capabilities.notes:
        raise NotSupported("add notes", provider=adapter.provider)
    if not request.content_type.startswith("multipart/"):
        raise Problem("unsupported_media_type", "Send the note as multipart/form-data.")
    if (request.content_length or 0) > MAX_NOTE_BODY_BYTES:
        raise Problem("payload_too_large", _TOO_LARGE)
    try:
        note, attachment = await _note_parts(request)
    except (ValueError, HttpProcessingError) as exc:  # aiohttp's word for a broken multipart
        raise Problem("bad_request", f"The multipart body is malformed: {exc}.") from None
    outcome = await request.app[SERVICE].add_note(
        write_request(request), request.match_info["invoice_id"], note, attachment
    )
    return outcome_response(outcome, request)


_TOO_LARGE = (
    f"The note's multipart body is over {MAX_NOTE_BODY_BYTES} bytes "
    f"(a file may have at most {MAX_NOTE_FILE_BYTES} bytes)."
)


async def _note_parts(request: web.Request) -> tuple[str, NoteFile | None]:
    """``note`` as text and ``file`` as bytes, whether or not the file part names a file.
    Any other part is refused by name (nothing a caller sends is dropped unsaid)."""
    note: str | None = None
    attachment = None
    budget = _Budget(MAX_NOTE_BODY_BYTES)
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise validation_problem([FieldError("/", "nested multipart bodies are not taken")])
        if part.name == "note":
            try:
                note = (await budget.read(part)).decode("utf-8")
            except UnicodeDecodeError:
                raise Problem("bad_request", "note must be UTF-8 text.") from None
        elif part.name == "file":
            content = await budget.read(part)
            if len(content) > MAX_NOTE_FILE_BYTES:
                raise Problem("payload_too_large", f"file is over {MAX_NOTE_FILE_BYTES} bytes.")
            kind = part.headers.get("Content-Type", "application/octet-stream")
            attachment = NoteFile(part.filename or "attachment", kind, bytes(content))
        else:
            name = (part.name or "")[:64]
            raise validation_problem(
                [FieldError(f"/{name}", "is not a part of a note: send note and, optionally, file")]
            )
    if note is None or not note.strip():
        raise validation_problem([FieldError("/note", "is required: the text of the note")])
    return note, attachment


class _Budget:
    """Bytes left for the whole body, spent part by part as each is read in chunks."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    async def read(self, part: BodyPartReader) -> bytes:
        content = bytearray()
        while chunk := await part.read_chunk(_CHUNK):
            self.left -= len(chunk)
            if self.left < 0:
                raise Problem("payload_too_large", _TOO_LARGE)
            content += chunk
        return bytes(content)
