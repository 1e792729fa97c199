"""What a copy's failure says: the target's error with the fields it names, and what to do
about it from the command line (a migration has no Idempotency-Key to send)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from gateway.canonical.errors import FieldError
from gateway.errors import AdapterError, OutcomeUncertain


def method_hint(error: AdapterError, source: str | None, sent: str | None) -> str:
    """For a payment the target refused for its method: the source's method, and the map's key
    that sends it as another (the target's refusal names only the methods it takes)."""
    pointers = {e.pointer for e in getattr(error, "errors", None) or []}
    if "/method" not in pointers:
        return ""
    was = repr(source) + (f", sent as {sent!r}" if sent != source else "")
    return f" (the source's method is {was}: map it to one the target takes under payment_methods)"


SOURCE_CHANGED = (
    "the source invoice changed since it was copied; the copy was not updated (a run copies "
    "once): migrate verify compares them as they are now"
)

EARLIER_COPY = (
    "copied by an earlier run whose later step failed, before the map or the source changed: "
    "the changes since do not apply to this copy (migrate revert it, then run again, to copy "
    "it anew)"
)

EARLIER_PAYMENT = (
    "recorded by an earlier run, before the map changed what it would send (payment_methods): "
    "the change does not apply to this payment"
)


def begun_looked_for(run: str | None) -> str:
    """A dry run's word on a copy whose create was sent and never recorded (``pending``): the
    run would look for what that create made before creating anything."""
    by = f"run {run!r}" if run else "an earlier run"
    return (
        f"a create {by} sent for it was never recorded: the run looks for what that create "
        "made at the target first, and creates the invoice only where it finds nothing"
    )


RUN_AGAIN = "run the migration again with the same --run to copy it"


LOOK_AGAIN = "Run the migration again with the same --run to look again"


def for_a_run(error: OutcomeUncertain) -> str:
    """An untold create's message with a command's advice, not an HTTP caller's (a migration
    has no Idempotency-Key to send: its run keys each copy)."""
    if not error.untold:
        return error.message
    if not error.retryable:
        return f"{error.untold} Check the target for the copy before running the migration again."
    after = f" after {max(1, math.ceil(error.retry_after))} s" if error.retry_after else ""
    return (
        f"{error.untold} Run the migration again with the same --run{after}: the copy's create "
        "asks the target again before anything is sent."
    )


def error_said(error: AdapterError) -> str:
    """The error's message with the fields it names and what each says (where the message
    does not say it already), and what the map can do about it where it can."""
    errors = getattr(error, "errors", None) or []
    fields = [e for e in errors if e.detail not in error.message]
    named = fields_said(fields)
    said = f"{error.message} ({named})" if named else error.message
    if any(e.pointer == "/due_date" and e.detail.startswith("is required") for e in errors):
        said += (
            "; give the map a due_days: a copy whose source has no due date then gets one, "
            "that many days after its issue date"
        )
    return said


def fields_said(fields: Sequence[FieldError]) -> str:
    return "; ".join(f"{e.pointer}: {e.detail}" if e.pointer else e.detail for e in fields)
