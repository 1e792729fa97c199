"""How a draft_publish list walk asks for a canonical status, one provider status at a time.

The provider's ``status`` filter takes one value; canonical ``open`` is two of them (``sent``,
and ``overdue``, which it derives from the due date). A walk for ``open`` lists every page of
``status=sent``, then every page of ``status=overdue``: each invoice once, in the provider's
order within each part. The page token names the part after the first (``overdue:3``), so a
cursor resumes in the right listing.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import InvalidRequest, PageNumbers
from adapters.mapping import Mapping

PART = ":"


@dataclass(frozen=True)
class StatusWalk:
    parts: tuple[str | None, ...]  # provider statuses, one listing each (None: unfiltered)

    @classmethod
    def of(cls, mapping: Mapping, status: str | None) -> StatusWalk:
        """The listings a canonical status needs; none when no provider value means it."""
        if status is None or status == "unknown":
            # Unknown is any value the mapping lacks: read unfiltered, narrowed after reading.
            return cls((None,))
        return cls(tuple(key for key, m in mapping.status_read.items() if m.status == status))

    def position(self, pages: PageNumbers, token: str | None) -> tuple[int, int]:
        """``(part, page number)`` of a page token of this walk."""
        if token is None or PART not in token:
            return 0, pages.number(token)
        name, _, number = token.partition(PART)
        if name not in self.parts[1:]:
            raise InvalidRequest(f"page token {token!r} does not belong to this listing")
        return self.parts.index(name), pages.number(number)

    def token(self, pages: PageNumbers, part: int, following: str | None) -> str | None:
        """The token after a page of ``part``: its next page, else the next part's first."""
        if following is None:
            if part + 1 >= len(self.parts):
                return None
            part, following = part + 1, str(pages.first)
        return following if part == 0 else f"{self.parts[part]}{PART}{following}"
