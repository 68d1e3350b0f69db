"""Fixtures for the web tests: engines with small pools, seeded notes, apps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantkit import create_async_engine, create_engine
from tenantkit.testing import TestDatabase


class CheckoutCounter:
    """Counts pool checkouts on an engine (a request that takes no connection adds none)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "checkout", self._on_checkout)

    def _on_checkout(self, *args: object) -> None:
        self.count += 1


@pytest.fixture
def small_engine(tenantkit_db: TestDatabase) -> Iterator[Engine]:
    """An app-role engine with a single pooled connection (so reuse is certain)."""
    engine = create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0, pool_timeout=5)
    yield engine
    engine.dispose()


@pytest.fixture
async def small_async_engine(tenantkit_db: TestDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(
        tenantkit_db.url("app"), pool_size=1, max_overflow=0, pool_timeout=5
    )
    yield engine
    await engine.dispose()
