"""What a migration run is: where from, where to, which invoices, how; shared by its workers.

The first process of a run records its plan in the store (a checkpoint named after the run);
every later process started with the same ``--run`` reads it and must ask for the same thing,
so that workers splitting one run page by page all read the same listing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from adapters.base import Handling, ListQuery

# A page of the source listing is one chunk of work; every worker of a run uses this size.
PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    customer: str | None = None
    issued_from: date | None = None
    issued_to: date | None = None

    def query(self) -> ListQuery:
        return ListQuery(
            status=self.status,
            customer_id=self.customer,
            issued_from=self.issued_from,
            issued_to=self.issued_to,
        )


@dataclass(frozen=True)
class Plan:
    run: str
    source: str  # connection names
    target: str
    filters: Filters = field(default_factory=Filters)
    ids: tuple[str, ...] | None = None  # --ids FILE: these source invoices only
    handling: Handling = "strict"
    map_digest: str = ""  # of the --map file's content: workers of one run share one map
    page_size: int = PAGE_SIZE

    def shared(self) -> dict[str, Any]:
        """What every worker of the run must agree on (kept in the store's checkpoint)."""
        data = asdict(self)
        data["filters"] = {k: str(v) if v is not None else None for k, v in data["filters"].items()}
        data["ids"] = hashlib.sha256("\n".join(self.ids).encode()).hexdigest() if self.ids else None
        return data


def default_run_name(source: str, target: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{source}-to-{target}-{stamp}"


def digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
