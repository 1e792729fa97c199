"""``mappings/<provider>.yaml``: loaded, checked against ``mappings/schema.json``, typed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import yaml

from adapters.base import Capabilities, InvalidRequest
from adapters.line_limits import LineLimits
from adapters.resolution import DedupePlan
from gateway.canonical.errors import dotted_path
from gateway.canonical.model import InvoiceStatus, PaymentStatus, RoundingPolicy
from gateway.json_schema import SchemaValidator


class MappingError(ValueError):
    """A mapping file is missing or breaks the schema; the message names the file and path."""


@dataclass(frozen=True)
class StatusMeaning:
    status: InvoiceStatus
    overdue: bool = False
    payment_status: PaymentStatus | None = None


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, Decimal),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def of_type(value: Any, type_name: str) -> bool:
    """Whether ``value`` is of a provider field's declared type (``mappings/*.yaml``), as the
    adapters check it before sending (a bool is not a number, a float is not exact)."""
    if type_name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[type_name])


# The forms a provider field's string may be documented in (mappings/schema.json).
FORMATS: dict[str, re.Pattern[str]] = {
    "uuid": re.compile(
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    ),
}


@dataclass(frozen=True)
class ProviderField:
    name: str
    type: str
    description: str
    required: bool = False
    per_line: bool = False
    format: str | None = None  # the documented form of a string value: one of FORMATS

    def problem(self, value: Any, provider: str) -> str | None:
        """What is wrong with ``value`` for this field (its type, its format), or None."""
        if value is None:
            return None
        if not of_type(value, self.type):
            return f"must be of type {self.type} for {provider}"
        if self.format is not None and not FORMATS[self.format].fullmatch(value):
            return f"must be a {self.format} for {provider}"
        return None


@dataclass(frozen=True)
class NotReachable:
    """A documented item of the provider that /v1 deliberately does not reach, and why."""

    item: str
    reason: str
    count: int = 1  # documented items the entry stands for


@dataclass(frozen=True)
class Reachability:
    documented: int  # the provider doc's items, counted in docs/providers/<provider>.md
    not_reachable: tuple[NotReachable, ...] = ()

    @property
    def reachable(self) -> int:
        return self.documented - sum(entry.count for entry in self.not_reachable)


@dataclass(frozen=True)
class Mapping:
    provider: str
    rounding: RoundingPolicy
    status_field: str | None
    status_read: dict[str, StatusMeaning]
    status_write: dict[str, Any]
    payment_status_field: str | None
    payment_status_read: dict[str, PaymentStatus]
    line_discount_read: dict[str, str]
    line_discount_write: dict[str, Any]
    document_discount_read: dict[str, str]
    document_discount_write: dict[str, Any]
    invoice_fields: dict[str, str]  # provider field → canonical destination
    line_fields: dict[str, str]
    line_container: str | None
    capabilities: Capabilities
    provider_fields: dict[str, ProviderField]
    error_fields: dict[str, str]
    dedupe: DedupePlan  # how a create whose answer was lost is found again
    migration_stamp: str | None = None  # where a migrated copy names its source, if anywhere
    sort_params: dict[str, str] = field(default_factory=dict)  # canonical sort → provider's
    filter_params: dict[str, str] = field(default_factory=dict)  # provider-only filter → param
    reachability: Reachability | None = None  # what of the provider's doc /v1 reaches

    def sort_param(self, sort: str) -> str:
        """The provider's own sort value for a canonical sort (``capabilities.sorts``)."""
        try:
            return self.sort_params[sort]
        except KeyError:
            offered = ", ".join(self.sort_params) or "none"
            raise InvalidRequest(
                f"{self.provider} cannot sort by {sort} (its sorts: {offered})"
            ) from None

    def read_status(self, raw: Any) -> StatusMeaning:
        """The canonical meaning of a provider status value; ``unknown`` when unmapped."""
        meaning = self.status_read.get(_text(raw))
        return meaning or StatusMeaning(status="unknown")

    def write_status(self, status: str) -> Any:
        return self.status_write.get(status)

    def read_payment_status(self, raw: Any) -> PaymentStatus | None:
        return self.payment_status_read.get(_text(raw))

    def pointer_for(self, provider_key: str) -> str | None:
        """A canonical JSON pointer for a field named in a provider's error body.

        Keys look like ``customer_id``, ``items.0.price`` or ``items[0].price``; explicit
        ``error_fields`` entries win, then the field tables are used.
        """
        key = re.sub(r"\[(\d+)\]", r".\1", provider_key)
        index_match = re.search(r"\.(\d+)(?:\.|$)", key)
        index = index_match.group(1) if index_match else None
        pattern = re.sub(r"\.\d+(?=\.|$)", ".*", key)
        explicit = self.error_fields.get(pattern) or self.error_fields.get(key)
        if explicit:
            return explicit.replace("*", index) if index is not None else explicit
        if (
            self.line_container
            and index is not None
            and pattern.startswith(self.line_container + ".*.")
        ):
            destination = self.line_fields.get(pattern.split(".*.", 1)[1])
            if destination and destination.startswith("lines[]."):
                return f"/lines/{index}/" + destination.removeprefix("lines[].").replace(".", "/")
            return f"/lines/{index}"
        destination = self.invoice_fields.get(key)
        if destination and destination != "remote_data":
            return "/" + destination.replace(".", "/")
        return None


def _text(raw: Any) -> str:
    # Tables are keyed by text: YAML keys 0 and "0" must mean the same provider value.
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("mappings").joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def parse_mapping(data: Any, source: str) -> Mapping:
    """Check ``data`` against the schema; every error names ``source`` and the path in it."""
    validator = SchemaValidator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{source}: {dotted_path(e.absolute_path)}: {e.message}" for e in errors]
        raise MappingError("\n".join(lines))
    caps = data["capabilities"]
    _check_dedupe(data, source)
    discounts = data.get("discount_types", {})
    listing = data["listing"]
    payment = data.get("payment_status", {})
    return Mapping(
        provider=data["provider"],
        rounding=RoundingPolicy.model_validate(data["rounding"]),
        status_field=data["status"].get("field"),
        status_read={_text(k): StatusMeaning(**v) for k, v in data["status"]["read"].items()},
        status_write=dict(data["status"].get("write", {})),
        payment_status_field=payment.get("field"),
        payment_status_read={_text(k): v for k, v in payment.get("read", {}).items()},
        line_discount_read={
            _text(k): v for k, v in discounts.get("line", {}).get("read", {}).items()
        },
        line_discount_write=dict(discounts.get("line", {}).get("write", {})),
        document_discount_read={
            _text(k): v for k, v in discounts.get("document", {}).get("read", {}).items()
        },
        document_discount_write=dict(discounts.get("document", {}).get("write", {})),
        invoice_fields=dict(data["fields"]["invoice"]),
        line_fields=dict(data["fields"]["line"]),
        line_container=data["fields"].get("line_container"),
        capabilities=Capabilities(
            operations=frozenset(caps["operations"]),
            actions=frozenset(caps["actions"]),
            payments=frozenset(caps["payments"]),
            notes=caps["notes"],
            create_from_order=caps["create_from_order"],
            filters=frozenset(caps["filters"]),
            fields=frozenset(caps["fields"]),
            tax_modes=frozenset(caps["tax_modes"]),
            max_line_taxes=caps["max_line_taxes"],
            compound_taxes=caps["compound_taxes"],
            max_page_size=caps["max_page_size"],
            versioned=caps["versioned"],
            sorts=frozenset(listing["sorts"]),
            search=listing["search"],
            provider_filters=frozenset(listing["filters"]),
            credit_notes=caps.get("credit_notes", False),
            duplicate_inputs=frozenset(caps.get("duplicate_inputs", [])),
            next_number=caps.get("next_number", False),
            export_csv=caps.get("export_csv", False),
            batch_actions=frozenset(caps.get("batch_actions", [])),
            trash=frozenset(caps.get("trash", [])),
            note_files=caps.get("note_files", 0),
            note_attach=caps.get("note_attach", False),
            note_read=caps.get("note_read", False),
            min_lines=caps.get("min_lines", 0),
            line_limits=LineLimits.from_data(caps.get("line_limits", {})),
            create_issued=caps.get("create_issued", False),
            due_date_default=caps.get("due_date_default", False),
            update_keeps=frozenset(caps.get("update_keeps", [])),
            taxes_by_item=caps.get("taxes_by_item", False),
            reissue_accepted=caps.get("reissue_accepted", False),
        ),
        provider_fields={
            name: ProviderField(name=name, **spec) for name, spec in data["provider_fields"].items()
        },
        error_fields=dict(data.get("error_fields", {})),
        migration_stamp=data.get("migration", {}).get("stamp"),
        dedupe=DedupePlan(
            marker=data["dedupe"]["marker"],
            lookup=frozenset(data["dedupe"]["lookup"]),
            max_pages=data["dedupe"].get("max_pages", 5),
            date_slack_days=data["dedupe"].get("date_slack_days", 1),
        ),
        sort_params=dict(listing["sorts"]),
        filter_params=dict(listing["filters"]),
        reachability=_reachability(data.get("reachability")),
    )


def _reachability(data: dict[str, Any] | None) -> Reachability | None:
    if data is None:
        return None
    entries = tuple(NotReachable(**entry) for entry in data["not_reachable"])
    return Reachability(documented=data["documented"], not_reachable=entries)


def _check_dedupe(data: dict[str, Any], source: str) -> None:
    """The marker goes in a field the provider carries; the lookup uses filters it has."""
    dedupe, caps = data["dedupe"], data["capabilities"]
    problems = []
    marker = dedupe["marker"]
    if marker is not None:
        name = marker.removeprefix("provider_fields.")
        carried = name in data["provider_fields"] if marker != name else marker in caps["fields"]
        if not carried:
            problems.append(
                f"{source}: dedupe.marker: {marker} is not a field this provider carries"
            )
    for name in sorted(set(dedupe["lookup"]) - set(caps["filters"])):
        problems.append(f"{source}: dedupe.lookup: {name} is not one of capabilities.filters")
    if problems:
        raise MappingError("\n".join(problems))


@cache
def load_mapping(provider: str) -> Mapping:
    """The mapping of ``provider`` from the installed ``mappings`` package."""
    name = f"{provider}.yaml"
    source = f"mappings/{name}"
    try:
        text = resources.files("mappings").joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"{source}: no mapping file for provider {provider!r}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{source}: not valid YAML: {exc}") from None
    mapping = parse_mapping(data, source)
    if mapping.provider != provider:
        raise MappingError(f"{source}: provider: says {mapping.provider!r}, expected {provider!r}")
    return mapping
