"""What each provider's adapter needs of its connection's configuration.

Checked when the configuration is loaded (``gateway/settings_file.py``), so that ``check-config``
and ``serve`` refuse a connection that cannot work instead of it failing on its first request:
the ids the adapter sends or compares (currency ids, tax ids) of the type the provider uses, the
reference data it cannot read an invoice without, tax tables in which every tax can be chosen,
and ``defaults`` the adapter would send (known provider fields of the right type).

Works on the configuration's data once it passed the JSON Schema; each problem is one line,
``path: what is wrong`` (``connections[2].currencies.EUR: …``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.bill_crm.wire import TAX_TYPES
from adapters.mapping import load_mapping, of_type
from adapters.order_linked.checks import custom_attributes
from gateway.canonical.errors import pointer_to_path
from gateway.canonical.money import MINOR_UNITS

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Needs:
    """What one provider's adapter reads from its connection."""

    # The provider names an invoice's currency by its own record id, read back through the
    # connection's ``currencies``: without the table no invoice can be read. The ids' type, and
    # what to call them.
    currency_ids: str | None = None
    currency_id_name: str = ""
    # Its invoices carry no currency: the account's (``currency``) is needed to read any.
    account_currency: bool = False
    # The pattern its tax ids must match (the adapter sends them as numbers), and how to say it.
    tax_ids: re.Pattern[str] | None = None
    tax_ids_are: str = ""


NEEDS: dict[str, Needs] = {
    # adapters/crm_v1: wire._currency reads org_currency_id, checks.resolve sends it (an int).
    "crm_v1": Needs(currency_ids="integer", currency_id_name="org_currency_id (an integer)"),
    "draft_publish": Needs(),
    # adapters/bill_crm: the adapter refuses to start without `currency`; plan._line_errors and
    # wire send tax rate ids as integers.
    "bill_crm": Needs(
        account_currency=True,
        tax_ids=re.compile(r"[0-9]{1,18}"),
        tax_ids_are="tax rate ids are whole numbers",
    ),
    # adapters/item_envelope: wire.tax_id_errors, provider_id (tax1/tax2 are positive integers).
    "item_envelope": Needs(
        tax_ids=re.compile(r"[1-9][0-9]{0,17}"), tax_ids_are="tax ids are positive integers"
    ),
    # adapters/order_linked: wire.currency_code reads the currency's uuid, checks.required.
    "order_linked": Needs(currency_ids="uuid", currency_id_name="currency uuid"),
}


def connection_problems(at: str, connection: dict[str, Any]) -> list[str]:
    """Every problem of one connection (``at``: its path, ``connections[2]``)."""
    provider: str = connection["provider"]
    needs = NEEDS[provider]
    return [
        *_currencies(at, connection, provider, needs),
        *_account_currency(at, connection, provider, needs),
        *_taxes(at, connection, provider, needs),
        *_defaults(at, connection, provider),
    ]


def _currencies(at: str, connection: dict[str, Any], provider: str, needs: Needs) -> list[str]:
    if needs.currency_ids is None:
        return []  # not read by this provider's adapter
    table: dict[str, Any] = connection.get("currencies") or {}
    if not table:
        return [
            f"{at}.currencies: {provider} names an invoice's currency by its "
            f"{needs.currency_id_name} only, so no invoice can be read (every list page would "
            f"fail) without this table; add each currency code with its {provider} id"
        ]
    problems = []
    seen: dict[Any, str] = {}
    for code, value in table.items():
        where = f"{at}.currencies.{code}"
        if code not in MINOR_UNITS:
            problems.append(f"{where}: not an ISO 4217 currency code the gateway knows")
        if needs.currency_ids == "integer" and not of_type(value, "integer"):
            problems.append(
                f"{where}: must be {provider}'s {needs.currency_id_name}, not {value!r}"
            )
            continue
        if needs.currency_ids == "uuid" and not (isinstance(value, str) and _UUID.fullmatch(value)):
            problems.append(
                f"{where}: must be {provider}'s {needs.currency_id_name} "
                f"(8-4-4-4-12 hexadecimal digits), not {value!r}"
            )
            continue
        key = value.lower() if isinstance(value, str) else value
        if key in seen:
            problems.append(
                f"{where}: id {value!r} is also {seen[key]}'s; each currency needs an id of its "
                "own (invoices in it would be read as the other)"
            )
        seen.setdefault(key, code)
    return problems


def _account_currency(
    at: str, connection: dict[str, Any], provider: str, needs: Needs
) -> list[str]:
    code = connection.get("currency")
    if code is None:
        if needs.account_currency:
            return [
                f"{at}.currency: is required for {provider}: its invoices carry no currency, so "
                "none can be read without the account's (currency: USD, say)"
            ]
        return []
    if code not in MINOR_UNITS:
        return [f"{at}.currency: {code!r} is not an ISO 4217 currency code the gateway knows"]
    return []


def _taxes(at: str, connection: dict[str, Any], provider: str, needs: Needs) -> list[str]:
    problems = []
    ids: dict[str, int] = {}
    rates: dict[tuple[Decimal, str | None], int] = {}
    for j, tax in enumerate(connection.get("taxes") or []):
        where = f"{at}.taxes[{j}]"
        tax_id = str(tax["id"])
        if needs.tax_ids is not None and not needs.tax_ids.fullmatch(tax_id):
            problems.append(f"{where}.id: {provider} {needs.tax_ids_are}, not {tax_id!r}")
        if tax_id in ids:
            problems.append(f"{where}.id: {tax_id!r} is also the id of taxes[{ids[tax_id]}]")
        ids.setdefault(tax_id, j)
        try:
            rate = Decimal(str(tax["rate"]))
        except InvalidOperation:
            continue  # the schema's pattern has said so
        # Connection.tax_for_rate finds a tax by its rate, and by its name among taxes of one
        # rate: a second tax with the same rate and the same name (or none) is never chosen.
        key = (rate, tax.get("name"))
        if key in rates:
            named = f"the same name ({key[1]!r})" if key[1] is not None else "no name either"
            problems.append(
                f"{where}: taxes[{rates[key]}] has the same rate ({tax['rate']}) and {named}; a "
                "tax is found by its rate, and by its name where rates repeat, so this one could "
                "never be chosen: give each its own name, or remove one"
            )
        rates.setdefault(key, j)
    return problems


def _defaults(at: str, connection: dict[str, Any], provider: str) -> list[str]:
    """``defaults`` are sent as the invoice's provider fields when a request has none: each must
    be one of the provider's invoice-level fields, of its type (adapters/reference.py)."""
    fields = load_mapping(provider).provider_fields
    known = ", ".join(sorted(name for name, spec in fields.items() if not spec.per_line))
    problems = []
    for name, value in (connection.get("defaults") or {}).items():
        where = f"{at}.defaults.{name}"
        spec = fields.get(name)
        if spec is None:
            problems.append(f"{where}: not a {provider} provider field (known: {known or 'none'})")
        elif spec.per_line:
            problems.append(
                f"{where}: a per-line {provider} field; defaults are the invoice's, so it would "
                "never be sent (set it in each line's provider_fields)"
            )
        elif not of_type(value, spec.type):
            problems.append(f"{where}: must be of type {spec.type} for {provider}, not {value!r}")
        elif (problem := spec.problem(value, provider)) is not None:
            problems.append(f"{where}: {problem}, not {value!r}")
        else:
            problems += [
                f"{at}.defaults.{pointer_to_path(pointer)}: {detail}"
                for pointer, detail in _values(provider, name, value)
            ]
    return problems


def _values(provider: str, name: str, value: Any) -> list[tuple[str, str]]:
    """What an adapter checks of a provider field's value beyond its type (pointers relative
    to the provider fields: ``/tag_ids/1``)."""
    if provider == "crm_v1" and name == "tag_ids":  # adapters/crm_v1/checks.py: _tag_ids
        return [
            (f"/tag_ids/{i}", f"must be a {provider} tag id (an integer), not {tag!r}")
            for i, tag in enumerate(value)
            if not of_type(tag, "integer")
        ]
    if provider == "bill_crm" and name == "bill_tax_type" and value not in TAX_TYPES:
        return [("/bill_tax_type", f"must be summary or inline, not {value!r}")]
    if provider == "order_linked" and name == "custom_attributes":
        return [
            (error.pointer.removeprefix("/provider_fields"), error.detail)
            for error in custom_attributes(value, provider)
        ]
    return []
