"""Invoices per second through validate → calculate → serialize, one process, one core.

The invoice: 10 lines, two tax rates, a line discount, a document discount, as the JSON body a
client sends. Two figures per rounding scope: end to end (parse the JSON body, validate it,
calculate, serialize the answer), and the engine alone (``calculate`` on an invoice already
validated). Prints one JSON object. Run: ``python bench/calc.py [--seconds 6]``. Figures are
CPU time of this process, median of ``--rounds`` rounds; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from processes import positive, positive_seconds

from gateway.canonical.calculated import calculated_invoice
from gateway.canonical.model import RoundingPolicy, invoice_from_input
from gateway.canonical.totals import calculate

TARGET_PER_SECOND = 5_000  # end to end
ENGINE_TARGET_PER_SECOND = 20_000  # the engine alone


def sample_body() -> bytes:
    lines = [
        {
            "kind": "item",
            "item_id": str(100 + i),
            "name": f"Item {i}",
            "quantity": str(1 + i % 4),
            "unit_price": f"{19.99 + i * 7.5:.2f}",
            "taxes": [
                {"id": "t20" if i % 2 else "t7", "name": "VAT", "rate": "20" if i % 2 else "7"}
            ],
            **({"discount": {"type": "percent", "value": "5"}} if i % 3 == 0 else {}),
        }
        for i in range(10)
    ]
    invoice = {
        "currency": "EUR",
        "tax_mode": "exclusive",
        "customer": {"id": "10"},
        "issue_date": "2026-07-01",
        "lines": lines,
        "discount": {"type": "amount", "value": "12.34"},
        "shipping": "4.90",
    }
    return json.dumps(invoice).encode()


def one(body: bytes, policy: RoundingPolicy) -> bytes:
    data: Any = json.loads(body, parse_float=Decimal)
    return calculated_invoice(invoice_from_input(data), policy).model_dump_json().encode()


def measure(work: Callable[[], object], seconds: float, rounds: int) -> float:
    """Median calls per second over ``rounds`` timed rounds (CPU time of this process)."""
    for _ in range(200):  # warm up
        work()
    rates = []
    for _ in range(rounds):
        count = 0
        start = time.process_time()
        deadline = start + seconds / rounds
        while time.process_time() < deadline:
            work()
            count += 1
        rates.append(count / (time.process_time() - start))
    return statistics.median(rates)


def run(seconds: float, rounds: int) -> dict[str, Any]:
    body = sample_body()
    validated = invoice_from_input(json.loads(body, parse_float=Decimal))
    results = {}
    for scope in ("per_line", "per_rate"):
        policy = RoundingPolicy(mode="half_up", tax_scope=scope)
        rate = measure(lambda: one(body, policy), seconds / 4, rounds)  # noqa: B023
        engine = measure(lambda: calculate(validated, policy), seconds / 4, rounds)  # noqa: B023
        results[scope] = {
            "invoices_per_second": round(rate),
            "microseconds_per_invoice": round(1e6 / rate, 1),
            "meets_target": rate >= TARGET_PER_SECOND,
            "engine_alone_per_second": round(engine),
            "engine_microseconds_per_invoice": round(1e6 / engine, 1),
            "engine_meets_target": engine >= ENGINE_TARGET_PER_SECOND,
        }
    return {
        "benchmark": "calc",
        "what": "JSON body → validate → calculate → serialize; 10 lines, 2 tax rates",
        "target_per_second": TARGET_PER_SECOND,
        "engine_target_per_second": ENGINE_TARGET_PER_SECOND,
        "policy_half_up": results,
        "seconds": seconds,
        "rounds": rounds,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seconds", type=positive_seconds, default=6.0, help="CPU seconds a round (6)"
    )
    parser.add_argument("--rounds", type=positive, default=5, help="rounds; the median (5)")
    args = parser.parse_args()
    print(json.dumps(run(args.seconds, args.rounds)))


if __name__ == "__main__":
    main()
