"""The garbage collector set for the long-running server (``serve``), once its app has started.

CPython's cyclic collector runs a young collection every 700 net new container objects. A
gateway request makes thousands, and with 50 requests in flight many are still alive at each
collection, so every one of them walks them again: under the create load of
``bench/overhead.py`` about 170 collections in 6 s of CPU took 7% of the worker's CPU
(measured with ``gc.callbacks``). Once the process is ready, ``settle`` moves everything built
at start (modules, pydantic's schemas, the app) out of the collector's sight (``gc.freeze``:
never collected, never walked again) and collects young objects every ``YOUNG_EVERY`` new
ones instead: the same load then ran about 10 collections, 1% of its CPU. Memory is unchanged
(reference counting frees nearly everything; only cycles wait, and for a few thousand
allocations more). What is frozen stays for the process's life: it was never garbage.
"""

from __future__ import annotations

import gc

YOUNG_EVERY = 5_000
# Older generations: collected after this many collections of the one below (as CPython's
# own 10 and 10, spaced out the same way as the young one).
OLDER_EVERY = 20


def settle() -> None:
    """Call once the process has built what it keeps (after start-up, before the load)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_EVERY, OLDER_EVERY, OLDER_EVERY)
