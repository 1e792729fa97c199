"""What a provider refuses of a line's figures beyond the canonical bounds, checked before
anything is sent (``capabilities.line_limits`` in ``mappings/<provider>.yaml``).

A create, a replace and a preview refuse them the same way, each at its pointer, so that a
preview that answers 200 is not a create the provider then refuses (quantity 0 on crm_v1 was a
200 preview and the provider's 422 at create). The limits are the provider's facts, written in
its mapping; this module only compares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.canonical.errors import FieldError
from gateway.canonical.model import Invoice


@dataclass(frozen=True)
class Bound:
    """Each side that is set: ``above`` and ``below`` exclude their value, ``at_most`` takes it
    (none is below 0: the canonical bounds keep every figure at 0 or more); ``places``, the
    most decimal places the provider takes, trailing zeros not counted (``1.50000000`` has
    one, as crm_v1 counts them: it writes such a rate back, and a PUT of it as read must
    pass)."""

    above: Decimal | None = None
    below: Decimal | None = None
    at_most: Decimal | None = None
    places: int | None = None

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Bound:
        sides = {side: Decimal(value) for side, value in data.items() if side != "places"}
        return cls(**sides, places=data.get("places"))

    def refusal(self, value: Decimal) -> str | None:
        """What is wrong with ``value``, or None when it is within every side."""
        exponent = value.normalize().as_tuple().exponent
        if self.places is not None and isinstance(exponent, int) and -exponent > self.places:
            return f"must have at most {self.places} decimal places"
        if self.above is not None and not value > self.above:
            return f"must be above {self.above}"
        if self.below is not None and not value < self.below:
            return f"must be below {_plain(self.below)}"
        if self.at_most is not None and not value <= self.at_most:
            return f"must be at most {_plain(self.at_most)}"
        return None


@dataclass(frozen=True)
class LineLimits:
    """The most lines a write takes (None: no limit of the provider's own), and the bounds of
    each line's quantity, unit price and tax rates, and of the invoice's exchange rate."""

    max_lines: int | None = None
    bounds: dict[str, Bound] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> LineLimits:
        bounds = {name: Bound.from_data(data[name]) for name in _FIGURES if name in data}
        return cls(max_lines=data.get("max_lines"), bounds=bounds)


_FIGURES = ("quantity", "unit_price", "tax_rate", "exchange_rate")


def line_limit_errors(invoice: Invoice, limits: LineLimits, provider: str) -> list[FieldError]:
    """Every line figure beyond ``limits``, each at its pointer, too many lines, and an
    exchange rate beyond its bound."""
    errors: list[FieldError] = []
    if limits.max_lines is not None and len(invoice.lines) > limits.max_lines:
        errors.append(
            FieldError("/lines", f"{provider} takes at most {limits.max_lines} lines on an invoice")
        )
    errors += _beyond(
        "/exchange_rate", invoice.exchange_rate, limits.bounds.get("exchange_rate"), provider
    )
    quantity = limits.bounds.get("quantity")
    price = limits.bounds.get("unit_price")
    rate = limits.bounds.get("tax_rate")
    for i, line in enumerate(invoice.lines):
        at = f"/lines/{i}"
        errors += _beyond(f"{at}/quantity", line.quantity, quantity, provider)
        errors += _beyond(f"{at}/unit_price", line.unit_price, price, provider)
        for j, tax in enumerate(line.taxes):
            errors += _beyond(f"{at}/taxes/{j}/rate", tax.rate, rate, provider)
    return errors


def _beyond(
    pointer: str, value: Decimal | None, bound: Bound | None, provider: str
) -> list[FieldError]:
    if value is None or bound is None:
        return []
    refusal = bound.refusal(value)
    return [] if refusal is None else [FieldError(pointer, f"{refusal} for {provider}")]


def _plain(value: Decimal) -> str:
    """A bound as digits (``1000000000000``, not ``1E+12``)."""
    return f"{value:f}"
