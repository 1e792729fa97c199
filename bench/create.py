"""The create's own work, without the network: µs of CPU per create through the service.

    .venv/bin/python bench/create.py                        # order_linked, 2,000 creates a round
    .venv/bin/python bench/create.py --provider draft_publish --creates 1000 --rounds 5

``bench/overhead.py`` measures a create end to end beside its floors, but with the emulator, the
proxy and the load generator sharing two cores its figures swing by a third from one run to the
next. This one runs what the gateway does for ``POST /v1/invoices`` in one process, on one
core: the body validated, ``InvoiceService.create`` (bounds, fit, the key claimed on a real
SQLite file, the lookup's preparation, the provider's request written, its answer decoded,
translated and reconciled, the outcome kept) and the answer rendered. The provider's call is
replayed: the emulator's answer to the same create is taken once, over loopback, and handed
back to the adapter each time, so only the gateway's own work is timed. Keyed (with an
``Idempotency-Key``, as the HTTP bench sends) and unkeyed, rounds interleaved; the median of
``--rounds``. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from processes import five_line_create, positive

from adapters.base import ListQuery
from adapters.registry import build_adapter
from emulators.registry import PROVIDERS, create_app
from gateway.canonical.model import Invoice
from gateway.http.render import render
from gateway.sandbox import sandbox_connection
from gateway.service.idempotency import KeyedWrites
from gateway.service.invoices import InvoiceService
from gateway.service.write_request import WriteRequest
from gateway.store import open_store


async def measure(provider: str, creates: int, rounds: int) -> dict[str, Any]:
    emulator = TestServer(create_app(provider, seed_invoices=20))
    await emulator.start_server()
    folder = Path(tempfile.mkdtemp(prefix="invoice-gateway-create-"))
    store = open_store(f"sqlite:///{folder / 'store.db'}")
    await store.open()
    try:
        connection = sandbox_connection(provider, str(emulator.make_url("")).rstrip("/"))
        async with aiohttp.ClientSession() as session:
            adapter = build_adapter(connection, session)
            first = (await adapter.list_page(ListQuery(), None, 5)).invoices[0]
            body = json.dumps(five_line_create(first.model_dump(mode="json"))).encode()
            answers: list[Any] = []
            real = adapter.client.request

            async def keep(*args: Any, **kwargs: Any) -> Any:
                answers.append(await real(*args, **kwargs))
                return answers[-1]

            adapter.client.request = keep  # type: ignore[method-assign]
            await adapter.create(Invoice.model_validate(json.loads(body)), handling="lenient")
            # The create's calls (its POST, and the reads or writes some providers' creates
            # make after it), replayed in the same order for every create.
            turn = iter(range(10**9))

            async def replay(*args: Any, **kwargs: Any) -> Any:
                return answers[next(turn) % len(answers)]

            adapter.client.request = replay  # type: ignore[method-assign]
            writes = KeyedWrites(store, lease_s=30, ttl_s=86400)
            service = InvoiceService({connection.name: adapter}, writes)
            serial = iter(range(10**9))

            async def one(keyed: bool) -> None:
                invoice = Invoice.model_validate(json.loads(body))
                key = f"bench-{next(serial)}-{time.time()}" if keyed else None
                request = WriteRequest(
                    "bench", connection.name, "POST /v1/invoices", "/v1/invoices", key
                )
                adapter.reads = type(adapter.reads)()  # a new invoice: nothing kept
                outcome = await service.create(request, invoice, "lenient")
                assert outcome.invoice is not None
                render(outcome.invoice, remote_data=False)

            figures: dict[str, list[float]] = {"keyed": [], "unkeyed": []}
            for keyed in (True, False):
                for _ in range(200):  # warm
                    await one(keyed)
            await writes.drain()
            for _ in range(rounds):
                for name, keyed in (("keyed", True), ("unkeyed", False)):
                    started = time.process_time()
                    for _ in range(creates):
                        await one(keyed)
                    await writes.drain()  # an unkeyed create's invoice kept, beside its answer
                    figures[name].append((time.process_time() - started) / creates * 1e6)
    finally:
        await store.close()
        await emulator.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "provider": provider,
        "lines": 5,
        "provider_calls_per_create": len(answers),
        "creates_per_round": creates,
        "rounds": rounds,
        "us_per_create": {name: round(statistics.median(v), 1) for name, v in figures.items()},
        "us_per_create_each_round": {name: [round(x, 1) for x in v] for name, v in figures.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--provider", default="order_linked", choices=PROVIDERS, help="(default order_linked)"
    )
    parser.add_argument(
        "--creates", type=positive, default=2000, help="creates a round, each kind (2000)"
    )
    parser.add_argument("--rounds", type=positive, default=3, help="rounds; the median (3)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.provider, args.creates, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
