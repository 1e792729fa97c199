"""Invoices per second through validate → calculate → serialize, one process, one core.

The invoice: 10 lines, two tax rates, a line discount, a document discount, as the JSON body a
client sends. Prints one JSON object. Run: ``python bench/calc.py [--seconds 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from decimal import Decimal
from typing import Any

from gateway.canonical.calculated import calculated_invoice
from gateway.canonical.model import RoundingPolicy, invoice_from_input

TARGET_PER_SECOND = 5_000


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


def run(seconds: float, rounds: int) -> dict[str, Any]:
    body = sample_body()
    policy = RoundingPolicy(mode="half_up", tax_scope="per_rate")
    for _ in range(200):  # warm up
        one(body, policy)
    rates = []
    for _ in range(rounds):
        count = 0
        start = time.perf_counter()
        deadline = start + seconds / rounds
        while time.perf_counter() < deadline:
            one(body, policy)
            count += 1
        rates.append(count / (time.perf_counter() - start))
    best = max(rates)
    return {
        "benchmark": "calc",
        "what": "validate → calculate → serialize, 10 lines, 2 tax rates",
        "invoices_per_second": round(statistics.median(rates)),
        "invoices_per_second_best": round(best),
        "microseconds_per_invoice": round(1e6 / statistics.median(rates), 1),
        "rounds": rounds,
        "seconds": seconds,
        "target_per_second": TARGET_PER_SECOND,
        "meets_target": statistics.median(rates) >= TARGET_PER_SECOND,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.seconds, args.rounds)))


if __name__ == "__main__":
    main()
