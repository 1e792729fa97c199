import hashlib

from gateway.config import Client
from gateway.keyring import KeyRing


def client(**changes: object) -> Client:
    data: dict[str, object] = {
        "name": "sync",
        "key_sha256": hashlib.sha256(b"sk_live_1").hexdigest(),
        "connections": ["*"],
        "scopes": ["invoices:read"],
    }
    data.update(changes)
    return Client.model_validate(data)


def test_keys_are_known_by_their_hash_and_from_the_environment() -> None:
    ring = KeyRing.from_clients(
        [client(), client(name="env", key_sha256=None, key_env="GW_KEY")], {"GW_KEY": "sk_env"}
    )
    assert ring.identify("sk_live_1") is not None and ring.identify("sk_live_1").name == "sync"  # type: ignore[union-attr]
    assert ring.identify("sk_env").name == "env"  # type: ignore[union-attr]
    assert ring.identify("sk_live_2") is None
    assert all(len(digest) == 64 for digest in ring.clients)  # only hashes are kept


async def test_rate_limit_allows_the_burst_then_says_how_long_to_wait() -> None:
    now = [100.0]
    ring = KeyRing.from_clients([client(rate_limit={"per_second": 2, "burst": 3})])
    ring.clock = lambda: now[0]
    sync = ring.identify("sk_live_1")
    assert sync is not None
    assert [await ring.wait(sync) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await ring.wait(sync) == 0.5
    now[0] += 0.5
    assert await ring.wait(sync) == 0.0


async def test_no_limit_means_no_waiting() -> None:
    ring = KeyRing.from_clients([client()])
    sync = ring.identify("sk_live_1")
    assert sync is not None
    assert {await ring.wait(sync) for _ in range(1000)} == {0.0}
