"""API-key lookups: made-up keys are cheap and never evict the keys tenants use."""

import asyncio

from gateway.auth import Authenticator
from gateway.settings import AuthSettings
from storage.api_key_repository import ApiKey, ApiKeyRepository, Scope, new_key


class CountingKeys:
    """Stands in for the repository's one read by id, counting the reads."""

    def __init__(self, *keys: ApiKey) -> None:
        self.keys = {key.id: key for key in keys}
        self.reads = 0

    async def get(self, prefix: str) -> ApiKey | None:
        self.reads += 1
        return self.keys.get(prefix)


def _authenticator(keys: CountingKeys, max_entries: int = 4) -> Authenticator:
    repository: ApiKeyRepository = keys  # type: ignore[assignment]
    return Authenticator(repository, AuthSettings(cache_s=60), max_entries=max_entries)


def _made_up(index: int) -> str:
    return f"dfk_{index:08x}_" + "a" * 43


def test_made_up_keys_do_not_evict_known_ones() -> None:
    raw, record = new_key("tenant-a", [Scope.READ])
    keys = CountingKeys(record)
    authenticator = _authenticator(keys)

    async def run() -> None:
        assert (await authenticator._lookup(raw)) == record
        for index in range(100):
            assert await authenticator._lookup(_made_up(index)) is None
        reads = keys.reads
        assert (await authenticator._lookup(raw)) == record
        assert keys.reads == reads  # still cached: the flood evicted only made-up keys

    asyncio.run(run())


def test_refused_keys_are_cached_and_both_caches_stay_bounded() -> None:
    keys = CountingKeys()
    authenticator = _authenticator(keys)

    async def run() -> None:
        await authenticator._lookup(_made_up(1))
        await authenticator._lookup(_made_up(1))
        assert keys.reads == 1
        for index in range(50):
            await authenticator._lookup(_made_up(index))
        assert len(authenticator._refused) == 4
        assert len(authenticator._known) == 0

    asyncio.run(run())


def test_malformed_keys_cost_no_lookup() -> None:
    keys = CountingKeys()
    authenticator = _authenticator(keys)

    async def run() -> None:
        for raw in ("x", "dfk_zz_" + "a" * 43, "dfk_00000000_short", "Bearer dfk_"):
            assert await authenticator._lookup(raw) is None
        assert keys.reads == 0

    asyncio.run(run())
