"""JSON Schema as the gateway checks its own files (the configuration, a migration's map, the
providers' mappings): Draft 2020-12, with a ``pattern`` anchored by ``$`` held to the text's end.

jsonschema matches a pattern with Python's ``re.search``, whose ``$`` also matches before a
final line break: a ``key_sha256`` read from a variable with its line end (a secret made from a
file) passed ``^[0-9a-f]{64}$``, and no API key ever matched it. Here such a text is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast

import jsonschema
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator


def _pattern(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    ends_early = pattern.endswith("$") and instance.endswith("\n")
    if ends_early or re.search(pattern, instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Typed as the validator it extends (its errors' fields as that one's are).
SchemaValidator = cast(
    type[jsonschema.Draft202012Validator],
    jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator, {"pattern": _pattern}
    ),
)
