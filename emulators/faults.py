"""The fault model of the control layer: the configuration, its validation and the draws."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from aiohttp import web

FaultKind = Literal["timeout", "reset", "rate_limit", "error"]

_RATE_FIELDS = ("timeout_rate", "reset_rate", "rate_limit_rate", "error_rate")
_KNOWN_FIELDS = frozenset(
    {
        "latency_ms",
        "jitter_ms",
        *_RATE_FIELDS,
        "error_status",
        "retry_after",
        "after_commit",
        "methods",
        "path_regex",
        "seed",
    }
)
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MAX_DELAY_MS = 600_000


class FaultConfigError(ValueError):
    """A fault configuration field is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class FaultConfig:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500
    rate_limit_rate: float = 0.0
    retry_after: int | None = 1  # None: the 429 names no wait
    reset_rate: float = 0.0
    timeout_rate: float = 0.0
    after_commit: bool = False
    methods: frozenset[str] | None = None
    path_regex: re.Pattern[str] | None = None
    seed: int = 0

    @classmethod
    def parse(cls, body: Any) -> FaultConfig | None:
        """Validate a ``POST /_emulator/faults`` body; ``None`` means "no faults"."""
        if not isinstance(body, dict):
            raise FaultConfigError("body", "the body must be a JSON object")
        unknown = sorted(set(body) - _KNOWN_FIELDS)
        if unknown:
            raise FaultConfigError(
                unknown[0],
                f"unknown field {unknown[0]!r}; known fields: {', '.join(sorted(_KNOWN_FIELDS))}",
            )
        if not body:
            return None
        rates = {name: _rate(body, name) for name in _RATE_FIELDS}
        # Summed as written (decimals), not as floats: 0.05 + 0.55 + 0.30 + 0.10 is 1, and
        # its float sum 1.0000000000000002 refused a valid set, saying its sum "is 1".
        total = sum((_exact(body, name) for name in _RATE_FIELDS), Decimal(0))
        if total > 1:
            raise FaultConfigError(
                "error_rate",
                f"timeout_rate + reset_rate + rate_limit_rate + error_rate is {total:g}; "
                "a request gets at most one of these faults, so the sum must be at most 1",
            )
        return cls(
            latency_ms=_delay(body, "latency_ms"),
            jitter_ms=_delay(body, "jitter_ms"),
            error_status=_error_status(body),
            retry_after=_retry_after(body),
            after_commit=_boolean(body, "after_commit"),
            methods=_methods(body),
            path_regex=_path_regex(body),
            seed=_seed(body),
            **rates,
        )

    def applies_to(self, request: web.Request) -> bool:
        if self.methods is not None and request.method not in self.methods:
            return False
        return self.path_regex is None or self.path_regex.search(request.path) is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_ms": _plain_number(self.latency_ms),
            "jitter_ms": _plain_number(self.jitter_ms),
            "error_rate": self.error_rate,
            "error_status": self.error_status,
            "rate_limit_rate": self.rate_limit_rate,
            "retry_after": self.retry_after,
            "reset_rate": self.reset_rate,
            "timeout_rate": self.timeout_rate,
            "after_commit": self.after_commit,
            "methods": sorted(self.methods) if self.methods is not None else None,
            "path_regex": self.path_regex.pattern if self.path_regex is not None else None,
            "seed": self.seed,
        }


def delay_seconds(faults: FaultConfig, rng: random.Random) -> float:
    jitter = rng.uniform(-faults.jitter_ms, faults.jitter_ms) if faults.jitter_ms else 0.0
    return max(0.0, faults.latency_ms + jitter) / 1000


def pick_fault(faults: FaultConfig, draw: float) -> FaultKind | None:
    """One draw split into bands, so each rate is exactly the share of requests it names."""
    bands: tuple[tuple[FaultKind, float], ...] = (
        ("timeout", faults.timeout_rate),
        ("reset", faults.reset_rate),
        ("rate_limit", faults.rate_limit_rate),
        ("error", faults.error_rate),
    )
    bound = 0.0
    for kind, rate in bands:
        bound += rate
        if draw < bound:
            return kind
    return None


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise FaultConfigError(name, f"{name} must be a number")
    return float(value)


def _exact(body: dict[str, Any], name: str) -> Decimal:
    """A rate already checked by ``_rate``, as the body wrote it."""
    value = body.get(name)
    return Decimal(0) if value is None else Decimal(value)


def _rate(body: dict[str, Any], name: str) -> float:
    rate = _number(body, name, 0.0)
    if not 0 <= rate <= 1:
        raise FaultConfigError(name, f"{name} must be between 0 and 1, got {body[name]}")
    return rate


def _delay(body: dict[str, Any], name: str) -> float:
    delay = _number(body, name, 0.0)
    if not 0 <= delay <= _MAX_DELAY_MS:
        raise FaultConfigError(
            name, f"{name} must be between 0 and {_MAX_DELAY_MS} milliseconds, got {body[name]}"
        )
    return delay


def _integer(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultConfigError(name, f"{name} must be an integer")
    return value


def _error_status(body: dict[str, Any]) -> int:
    status = _integer(body, "error_status", 500)
    if not 400 <= status <= 599:
        raise FaultConfigError(
            "error_status", f"error_status must be a 4xx or 5xx status code, got {status}"
        )
    return status


def _retry_after(body: dict[str, Any]) -> int | None:
    if "retry_after" in body and body["retry_after"] is None:
        return None  # a 429 without Retry-After, as some providers send it
    seconds = _integer(body, "retry_after", 1)
    if not 0 <= seconds <= 3600:
        raise FaultConfigError("retry_after", f"retry_after must be 0..3600 seconds, got {seconds}")
    return seconds


def _seed(body: dict[str, Any]) -> int:
    return _integer(body, "seed", 0)


def _boolean(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise FaultConfigError(name, f"{name} must be true or false")
    return value


def _methods(body: dict[str, Any]) -> frozenset[str] | None:
    value = body.get("methods")
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(m, str) for m in value):
        raise FaultConfigError("methods", "methods must be a non-empty list of HTTP methods")
    methods = frozenset(m.upper() for m in value)
    unknown = sorted(methods - _HTTP_METHODS)
    if unknown:
        raise FaultConfigError("methods", f"methods: unknown HTTP method {unknown[0]!r}")
    return methods


def _path_regex(body: dict[str, Any]) -> re.Pattern[str] | None:
    value = body.get("path_regex")
    if value is None:
        return None
    if not isinstance(value, str):
        raise FaultConfigError("path_regex", "path_regex must be a string")
    try:
        return re.compile(value)
    except re.error as exc:
        raise FaultConfigError("path_regex", f"path_regex is not a valid regex: {exc}") from exc


def _plain_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value
