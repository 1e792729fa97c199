"""Typed settings: the server, and each connection to a provider (see docs/operations.md)."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from yarl import URL

from gateway.canonical.decimals import Rate
from gateway.canonical.model import RoundingPolicy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthSettings(_Strict):
    """How the gateway authenticates to the provider: a bearer token or an API-key header."""

    type: Literal["bearer", "api_key"] = "bearer"
    token: SecretStr | None = None
    token_env: str | None = None
    header: str | None = None  # type api_key only: the header it goes in (X-API-Key)

    @model_validator(mode="after")
    def _one_source(self) -> AuthSettings:
        if (self.token is None) == (self.token_env is None):
            raise ValueError("give exactly one of token or token_env")
        return self

    @property
    def sent_in(self) -> str:
        """The request header the credential is sent in."""
        if self.type == "bearer":
            return "Authorization"  # as "Bearer <token>"
        return self.header or "X-API-Key"

    def secret(self) -> str:
        """The credential; read from the environment when configured so."""
        if self.token is not None:
            return self.token.get_secret_value()
        assert self.token_env is not None
        value = os.environ.get(self.token_env)
        if not value:
            raise LookupError(f"environment variable {self.token_env} is not set")
        return value


class RetrySettings(_Strict):
    max_attempts: int = Field(3, ge=1, le=10)
    backoff_base_s: float = Field(0.2, ge=0)
    backoff_max_s: float = Field(5.0, ge=0)


class BreakerSettings(_Strict):
    """The connection's circuit breaker: open after ``failures`` in a row, for ``open_s``."""

    failures: int = Field(5, ge=1, le=1000)
    open_s: float = Field(30.0, gt=0, le=3600)


class RetryBudget(_Strict):
    """Retries are at most ``ratio`` of the calls over ``window_s``, or ``min_retries``."""

    ratio: float = Field(0.2, ge=0, le=1)
    min_retries: int = Field(3, ge=0, le=1000)
    window_s: float = Field(10.0, gt=0, le=3600)


class RateLimit(_Strict):
    per_second: float = Field(ge=0.001, le=1_000_000)
    burst: int | None = Field(None, ge=1)


class TaxSetting(_Strict):
    """One of the provider's tax records: its id there, and the rate it stands for."""

    id: str
    name: str | None = None
    rate: Rate

    @field_validator("id", mode="before")
    @classmethod
    def _numeric_id(cls, value: Any) -> Any:
        # config.yaml may write a numeric id as a number (`id: 5`): the same id as "5".
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# The longest ``write_settle_s``. The reaper keeps a dead holder's invoice lock that long past
# its lease, for a taker waiting out its own connection's settle time (gateway/http/app.py).
MAX_WRITE_SETTLE_S = 3600.0
# A provider token shorter than this could not be told from ordinary text in an answer that
# echoes it, so it could not be blanked out: check-config refuses it (gateway/upstream.py).
MIN_TOKEN_CHARS = 8


class Connection(_Strict):
    """One configured provider account."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    provider: str
    base_url: str
    auth: AuthSettings
    timeout_s: float = Field(10.0, gt=0, le=300)
    # How long the provider may go on working on a write it did not answer in time: until
    # then, a lookup that does not find the write proves nothing (gateway/service/idempotency.py).
    write_settle_s: float = Field(60.0, ge=0, le=MAX_WRITE_SETTLE_S)
    retries: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    retry_budget: RetryBudget = RetryBudget()
    max_response_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    # Requests open to this provider at once (gateway/provider_sessions.py).
    max_connections: int = Field(100, ge=1, le=10_000)
    rate_limit: RateLimit | None = None
    rounding: RoundingPolicy | None = None  # None: the provider's own policy from its mapping
    defaults: dict[str, Any] = Field(default_factory=dict)  # provider_fields used when absent
    taxes: list[TaxSetting] = Field(default_factory=list)
    # Currency code → the provider's id for it, where a provider names currencies by its own
    # records (crm_v1 org_currency_id, order_linked currency uuids).
    currencies: dict[str, int | str] = Field(default_factory=dict)
    currency: str | None = None  # the account's currency, where invoices carry none (bill_crm)

    @property
    def account(self) -> str:
        """The provider account the connection reaches, one name however its base URL is
        spelled (the scheme and host in any case, a default port written or not, a trailing
        slash): what two connections to one account share (invoice locks, what writes made)."""
        try:
            url = URL(self.base_url)
            where = f"{url.scheme.lower()}://{(url.host or '').lower()}:{url.port}"
            path = url.path.rstrip("/")
        except (ValueError, TypeError):
            where, path = self.base_url, ""
        return f"{self.provider} {where}{path}"

    def currency_code(self, provider_id: Any) -> str | None:
        """The currency code the provider's currency id stands for, if it is configured."""
        return next((code for code, known in self.currencies.items() if known == provider_id), None)

    def tax_for_rate(self, rate: Any, name: str | None = None) -> TaxSetting | None:
        """The configured tax with this rate (and this name, where several share the rate)."""
        matches = [tax for tax in self.taxes if tax.rate == rate]
        if name is not None and len(matches) > 1:
            named = [tax for tax in matches if tax.name == name]
            matches = named or matches
        return matches[0] if matches else None

    def tax_by_id(self, tax_id: str) -> TaxSetting | None:
        return next((tax for tax in self.taxes if tax.id == tax_id), None)


Scope = Literal["invoices:read", "invoices:write", "admin"]


class Client(_Strict):
    """A caller of the gateway: its API key (as a SHA-256 hash, or from the environment)."""

    name: str
    key_sha256: str | None = None
    key_env: str | None = None
    connections: list[str]
    scopes: frozenset[Scope]
    rate_limit: RateLimit | None = None

    def may_use(self, connection: str) -> bool:
        return "*" in self.connections or connection in self.connections


class AuthFailures(_Strict):
    """Failed authentications allowed from one client address before it is answered 429
    (docs/facade.md, "Auth"): ``per_minute`` at most, in bursts of as many; ``max_addresses``
    bounds the table of addresses remembered (the least recently failing is forgotten)."""

    per_minute: int = Field(20, ge=1, le=1_000_000)
    max_addresses: int = Field(10_000, ge=1, le=10_000_000)


def unbracketed(host: str) -> str:
    """An IPv6 address as a URL writes it (``[::1]``) is the address (``::1``): with its
    brackets it cannot be listened on."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def http_origin(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 address in brackets (``http://[::1]:8080``)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port
    max_body_bytes: int = Field(1_048_576, ge=1024)
    workers: int = Field(1, ge=1, le=64)
    # A connection that sends no whole request head within this (from its opening, or from
    # its last answer) is closed: idle keep-alive connections, and heads sent a byte at a time.
    idle_timeout_s: float = Field(60.0, ge=1, le=3600)
    # A request body not whole within this from when its head arrived is answered 408.
    body_timeout_s: float = Field(60.0, ge=1, le=3600)

    @field_validator("host")
    @classmethod
    def _unbracketed(cls, host: str) -> str:
        return unbracketed(host)  # serve could not listen on "[::1]" as written

    auth_failures: AuthFailures = AuthFailures()
    # Signs list cursors. Instances behind one load balancer (and one instance across restarts)
    # honour each other's cursors only when they share it; unset, each process makes its own.
    cursor_secret: SecretStr | None = None
    cursor_secret_env: str | None = None

    def cursor_key(self) -> bytes | None:
        """The configured cursor secret as bytes, or None when none is configured."""
        if self.cursor_secret is not None:
            return self.cursor_secret.get_secret_value().encode()
        if self.cursor_secret_env is not None:
            value = os.environ.get(self.cursor_secret_env)
            if not value:
                raise LookupError(f"environment variable {self.cursor_secret_env} is not set")
            return value.encode()
        return None


class StoreSettings(_Strict):
    """Idempotency keys, the migration crosswalk and checkpoints (docs/operations.md)."""

    url: str = "sqlite:///./invoice-gateway.db"
    idempotency_ttl_hours: float = Field(24, gt=0)
    # How long a running write holds its key without renewing it (it renews while it runs);
    # a key whose owner died is taken over once this has passed.
    lease_seconds: float = Field(10.0, ge=1, le=3600)


class LoggingSettings(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class Settings(_Strict):
    """Everything one gateway process runs with; read from ``config.yaml`` by settings_file.py."""

    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    logging: LoggingSettings = LoggingSettings()
    clients: list[Client] = Field(default_factory=list)
    connections: list[Connection] = Field(default_factory=list)

    def connection(self, name: str) -> Connection | None:
        return next((c for c in self.connections if c.name == name), None)

    def same_records(self) -> dict[str, tuple[str, ...]]:
        """Each connection's name → the connections whose writes reach the same records (the
        same provider account, ``Connection.account``, itself first), as the invoice locks
        name them."""

        return {
            c.name: (
                c.name,
                *(o.name for o in self.connections if o is not c and o.account == c.account),
            )
            for c in self.connections
        }
