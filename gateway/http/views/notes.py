"""``/v1/connections/{connection}/invoices/{id}/notes``: a note with its files, files added to
an existing note (``…/notes/{note_id}/files``), and notes read back where the provider can."""

from __future__ import annotations

import re

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from adapters.base import NoteFile, NotSupported
from adapters.paths import is_control
from gateway.canonical.errors import FieldError
from gateway.http.auth import requires
from gateway.http.body import body_deadline, check_content_encoding
from gateway.http.keys import SERVICE
from gateway.http.problems import Problem
from gateway.http.validation import validation_problem
from gateway.http.views.common import adapter_for, if_match, outcome_response, write_request

MAX_NOTE_FILE_BYTES = 10 * 1024 * 1024
# The whole multipart body: the files, the note and the parts' headers. Counted as it is read,
# so a body that announces no length (or lies about it) is refused at this size, not read whole.
MAX_NOTE_BODY_BYTES = MAX_NOTE_FILE_BYTES + 1024 * 1024
_CHUNK = 64 * 1024
# A note's text, as long as an invoice's own notes may be (``canonical.model.Text``).
MAX_NOTE_CHARS = 10_000


@requires("invoices:write")
async def add_note_view(request: web.Request) -> web.StreamResponse:
    """Multipart: ``note`` (text) and ``file`` parts, as many as the provider's new note takes
    (``capabilities.note_files``): more is a 422 naming the limit, never a file dropped."""
    adapter = adapter_for(request)
    if not adapter.capabilities.notes:
        raise NotSupported("add notes", provider=adapter.provider)
    note, files = await _multipart(request, attach=False)
    if note is None or not note.strip():
        raise validation_problem([FieldError("/note", "is required: the text of the note")])
    outcome = await request.app[SERVICE].add_note(
        write_request(request, checks_if_match=True),
        request.match_info["invoice_id"],
        note,
        files,
        if_match=if_match(request),
    )
    return outcome_response(outcome, request)


@requires("invoices:write")
async def attach_files_view(request: web.Request) -> web.StreamResponse:
    """Multipart: ``file`` parts added to an existing note and a ``note`` that replaces its
    text, at least one of the two (as the provider takes them); 200 with the note's every file."""
    adapter = adapter_for(request)
    if not (adapter.capabilities.notes and adapter.capabilities.note_attach):
        raise NotSupported("add files to an existing note", provider=adapter.provider)
    note, files = await _multipart(request, attach=True)
    text = note if note is not None and note.strip() else None
    if not files and text is None:
        raise validation_problem(
            [FieldError("/file", "is required: at least one file to add, or a note's new text")]
        )
    outcome = await request.app[SERVICE].attach_to_note(
        write_request(request, checks_if_match=True),
        request.match_info["invoice_id"],
        request.match_info["note_id"],
        files,
        text,
        if_match=if_match(request),
    )
    return outcome_response(outcome, request)


@requires("invoices:read")
async def list_notes_view(request: web.Request) -> web.StreamResponse:
    adapter = adapter_for(request)
    notes = await request.app[SERVICE].read_notes(
        adapter.connection.name, request.match_info["invoice_id"], None
    )
    return web.json_response(
        {"object": "list", "data": notes, "has_more": False, "next_cursor": None}
    )


@requires("invoices:read")
async def get_note_view(request: web.Request) -> web.StreamResponse:
    adapter = adapter_for(request)
    note = await request.app[SERVICE].read_notes(
        adapter.connection.name, request.match_info["invoice_id"], request.match_info["note_id"]
    )
    invoice_id = request.match_info["invoice_id"]
    return web.json_response({"object": "note", "invoice_id": invoice_id, "note": note})


_TOO_LARGE = (
    f"The note's multipart body is over {MAX_NOTE_BODY_BYTES} bytes "
    f"(a file may have at most {MAX_NOTE_FILE_BYTES} bytes)."
)


async def _multipart(request: web.Request, *, attach: bool) -> tuple[str | None, list[NoteFile]]:
    if request.content_type != "multipart/form-data":
        raise Problem("unsupported_media_type", "Send the note as multipart/form-data.")
    if (request.content_length or 0) > MAX_NOTE_BODY_BYTES:
        raise Problem("payload_too_large", _TOO_LARGE)
    try:
        async with body_deadline(request):
            return await _note_parts(request, attach=attach)
    except HttpProcessingError:  # a part's headers aiohttp could not read
        raise Problem(
            "bad_request",
            "The multipart body is malformed: a part's headers cannot be read (a control "
            "character in one, such as a line break or NUL in a file name, or a line that is "
            "no header). Nothing was sent.",
        ) from None
    except ValueError as exc:  # aiohttp's word for a body that is no multipart
        said = str(exc) if _is_plain(str(exc)) else "it cannot be read as multipart/form-data"
        raise Problem("bad_request", f"The multipart body is malformed: {said}.") from None


async def _note_parts(request: web.Request, *, attach: bool) -> tuple[str | None, list[NoteFile]]:
    """``note`` as text and every ``file`` as bytes, in order, whether or not a file part names
    a file. The whole body counts against one budget. Any other part is refused by name
    (nothing a caller sends is dropped unsaid)."""
    note: str | None = None
    files: list[NoteFile] = []
    budget = _Budget(MAX_NOTE_BODY_BYTES)
    check_content_encoding(request)
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise validation_problem([FieldError("/", "nested multipart bodies are not taken")])
        if len(part.headers.getall("Content-Disposition", ())) > 1:
            # Read by its first, a part named twice would be taken for what it says first.
            detail = "a part gives Content-Disposition twice: give each part one"
            raise validation_problem([FieldError("/", detail)])
        if part.name in ("note", "file"):
            _as_sent(part, f"/{part.name}")
        if part.name == "note":
            if note is not None:
                raise validation_problem([FieldError("/note", "is given twice: send one note")])
            try:
                note = (await budget.read(part)).decode("utf-8")
            except UnicodeDecodeError:
                raise Problem("bad_request", "note must be UTF-8 text.") from None
            if len(note) > MAX_NOTE_CHARS:
                raise validation_problem(
                    [FieldError("/note", f"must be at most {MAX_NOTE_CHARS} characters")]
                )
        elif part.name == "file":
            content = await budget.read(part)
            if len(content) > MAX_NOTE_FILE_BYTES:
                raise Problem("payload_too_large", f"file is over {MAX_NOTE_FILE_BYTES} bytes.")
            kind = part.headers.get("Content-Type", "application/octet-stream")
            name = _name_as_sent(part)
            said = part.headers.get("Content-Disposition", "")
            if not content and not name and "filename*" not in said.lower():
                # A form's file input left empty (a browser's filename="", the docs page's part
                # with no name): no file, and nothing of it to keep.
                continue
            if not name:  # None, or filename="": the provider takes a nameless part for text
                # No name, or one aiohttp could not read (a ``filename*`` whose bytes are not
                # UTF-8): the provider would be sent another name than the caller's file has.
                detail = (
                    "has a file name that cannot be read: give it as UTF-8 text "
                    "(filename=\"…\" or filename*=UTF-8''…)"
                    if name is None and "filename" in said.lower()
                    else 'needs its file name (Content-Disposition: form-data; name="file"; '
                    'filename="…")'
                )
                raise validation_problem([FieldError("/file", detail)])
            # Each said of the part at /file ("file has a name that …"), not again as "file".
            for said, text in (("name", name), ("Content-Type", kind)):
                if not _is_text(text):  # a 422 at /file, as for every other fault of the name
                    raise validation_problem(
                        [FieldError("/file", f"has a {said} that is not UTF-8 text")]
                    )
            # A control character would break the header of the part the name is sent in to the
            # provider; a folder (``C:\\scans\\r.pdf``, as old browsers send) it leaves out.
            if any(is_control(ch) for ch in name) or "/" in name or "\\" in name:
                detail = (
                    f"has the name {name!r}, which must be a name alone: no folder (/ or \\) "
                    "and no control characters (line breaks, tabs…)"
                )
                raise validation_problem([FieldError("/file", detail)])
            files.append(NoteFile(name, kind, bytes(content)))
        else:
            taken = "file and, optionally, note" if attach else "note and, optionally, file"
            if not part.name:  # its Content-Disposition unreadable: a parameter given twice…
                detail = (
                    "a part has no name that can be read from its Content-Disposition (is a "
                    f"parameter given twice?): send {taken}, each named once"
                )
                raise validation_problem([FieldError("/", detail)])
            if not _is_text(part.name):
                detail = f"a part has a name that is not UTF-8 text: send {taken}"
                raise validation_problem([FieldError("/", detail)])
            name = part.name[:64]
            raise validation_problem(
                [FieldError(f"/{name}", f"is not a part of a note: send {taken}")]
            )
    return note, files


# What a part may say of its own encoding: its bytes as they are (RFC 7578, 4.7: senders use
# none; HTTP has no transfer encoding of a part).
_AS_THEY_ARE = frozenset({"", "binary", "7bit", "8bit", "identity"})


def _as_sent(part: BodyPartReader, pointer: str) -> None:
    """Refuse a part that says its bytes are encoded (``Content-Transfer-Encoding: base64``, a
    part's own ``Content-Encoding: gzip``): the provider would be sent the encoded bytes as the
    file, altered unsaid. Decoding them would guess at what the caller meant."""
    for header in ("Content-Transfer-Encoding", "Content-Encoding"):
        for said in part.headers.getall(header, ()):  # each, where it is given twice
            said = said.strip()
            if said.lower() in _AS_THEY_ARE:
                continue
            shown = f": {said[:32]}" if _is_text(said) else " that is not UTF-8 text"
            detail = (
                f"has {header}{shown}, which is not taken: send the {pointer[1:]}'s bytes as "
                "they are, with no encoding of the part"
            )
            raise validation_problem([FieldError(pointer, detail)])


# A file name given quoted, as written before aiohttp's reading, which takes any "/" and "\"
# off its front ("/etc/x.txt" read as "etc/x.txt", "/abs.txt" as "abs.txt").
_QUOTED_FILENAME = re.compile(r'(?i)(?:^|;)\s*filename\s*=\s*"((?:[^"\\]|\\.)*)"')
_FOLDER_IN_FRONT = re.compile(r'(?i)(?:^|;)\s*filename\s*=\s*"([/\\][^;]*)')


def _name_as_sent(part: BodyPartReader) -> str | None:
    """The part's file name as the caller wrote it: a name with a folder in front is refused
    as such, never sent on renamed (well-formed quoted or not: a raw '"' within)."""
    name = part.filename
    header = part.headers.get("Content-Disposition")
    if name is None or header is None or "filename*" in header.lower():
        return name  # a name given as filename*= is the one used, read as sent
    written = _QUOTED_FILENAME.search(header)
    if written and re.search(r'\\[^"\\]', written.group(1)):
        # A backslash escaping no '"' nor '\\' is the name's own (C:\scans\r.pdf, as old
        # browsers send a path), which the reading took for escapes and dropped.
        return written.group(1)
    folder = _FOLDER_IN_FRONT.search(header)
    if folder is None:
        return name
    return re.sub(r"\\(.)", r"\1", written.group(1)) if written else folder.group(1)


def _is_plain(text: str) -> bool:
    """Whether aiohttp's words can be shown as they are: short, printable, quoting nothing."""
    return len(text) <= 120 and text.isprintable() and "'" not in text and '"' not in text


def _is_text(value: str) -> bool:
    """Whether a part's header value is text (aiohttp keeps bytes that are not UTF-8 as lone
    surrogates, which nothing can write out again)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
