"""What blanking a provider's credential out of its answers costs, by the answer's shape;
prints JSON (microseconds per answer and per KB, CPU time of this process, median of
``--rounds``).

    .venv/bin/python bench/blanking.py
    .venv/bin/python bench/blanking.py --kb 400 --rounds 5

Every answer goes through the search for the credential's forms (``secret_forms``) and for
base64 written in lines that holds it (``without_wrapped_base64``). The shapes: a compact
invoice answer; a pretty-printed list; an attachment in base64 on one line that a line break
ends (which the first search for lines read again from each of its characters: minutes for
130 KB), and one as PHP writes JSON (each "/" as "\\/": the second search read the line again
from each of them); the same attachment in MIME's lines of 76; a header dump holding the
credential in MIME's lines (blanked). The cost should grow with the size alone: ``us_per_kb``
about even across ``--kb``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import statistics
import time
from collections.abc import Callable

from processes import positive

from gateway.credential_forms import base64_forms, secret_forms, without_wrapped_base64

TOKEN = "sk_live_4eC39HqLyjWDarjtT1zdp7dc9Xq"


def blank(content: bytes) -> bytes:
    """As the upstream client blanks a whole answer (``UpstreamClient._without_credential``)."""
    for form in secret_forms(TOKEN):
        content = content.replace(form, b"[redacted]")
    return without_wrapped_base64(content, base64_forms(TOKEN))


def shapes(kb: int) -> dict[str, bytes]:
    attachment = base64.b64encode(os.urandom(kb * 768)).decode()  # kb KB of base64
    invoice = {"id": 1, "customer": {"id": "7", "name": "Rheinmöbel GmbH"}, "notes": "a\nb"}
    listing = [{**invoice, "id": i, "number": f"INV-{i:06d}"} for i in range(kb * 5)]
    dump = json.dumps({"Host": "api", "Authorization": f"Bearer {TOKEN}"}).encode()
    return {
        "compact_invoice": json.dumps(invoice).encode(),
        "pretty_list": json.dumps(listing, indent=2).encode(),
        "attachment_one_line": json.dumps({"file": attachment + "\n"}).encode(),
        # as PHP's json_encode writes it: each "/" as "\/"
        "attachment_one_line_php": json.dumps({"file": attachment}).replace("/", "\\/").encode(),
        "attachment_in_lines": json.dumps(
            {"file": base64.encodebytes(attachment.encode()).decode()}
        ).encode(),
        "credential_in_lines": json.dumps({"m": base64.encodebytes(dump).decode()}).encode(),
    }


def per_call_us(step: Callable[[], object], rounds: int) -> float:
    figures = []
    for _ in range(rounds):
        calls, started = 0, time.process_time()
        while (spent := time.process_time() - started) < 0.2:
            step()
            calls += 1
        figures.append(spent / calls * 1e6)
    return statistics.median(figures)


def run(kb: int, rounds: int) -> dict[str, object]:
    figures: dict[str, object] = {"kb": kb, "rounds": rounds}
    for name, content in shapes(kb).items():
        us = per_call_us(functools.partial(blank, content), rounds)
        figures[name] = {
            "bytes": len(content),
            "us": round(us, 1),
            "us_per_kb": round(us / (len(content) / 1024), 2),
            "blanked": b"[redacted]" in blank(content),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kb", type=positive, default=100, help="attachment size, KB")
    parser.add_argument("--rounds", type=positive, default=3)
    args = parser.parse_args()
    print(json.dumps(run(args.kb, args.rounds)))


if __name__ == "__main__":
    main()
