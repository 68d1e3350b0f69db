"""The startup check: an app serving as the owner, a superuser, on a schema behind
head, or on an unreachable database does not start, with one clear line.

Before: serving as the owner or a superuser failed only on the first request, as
an unlogged 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from flask import Flask
from sqlalchemy.orm import sessionmaker

import tenantkit
from tenantkit import migrate
from tenantkit.errors import StartupCheckFailed
from tenantkit.testing import RunningServer, TestDatabase, provision_database
from tenantkit.tokens import TokenVerifier
from tenantkit.web.fastapi import TenantKit
from tenantkit.web.flask import TenantKit as FlaskTenantKit


@pytest.fixture
def engines(tenantkit_db: TestDatabase) -> Iterator[dict[str, sa.Engine]]:
    roles = ("app", "owner", "admin")
    made = {role: tenantkit.create_engine(tenantkit_db.url(role)) for role in roles}
    yield made
    for engine in made.values():
        engine.dispose()


def test_the_app_role_on_a_migrated_database_passes(engines: dict[str, sa.Engine]) -> None:
    tenantkit.check_engine(engines["app"])


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_the_owner_or_a_superuser_is_refused(
    engines: dict[str, sa.Engine], role: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="tenantkit"), pytest.raises(
        StartupCheckFailed
    ) as info:
        tenantkit.check_engine(engines[role])
    message = str(info.value)
    assert "\n" not in message
    assert "a role that can bypass row-level security" in message or (
        "which can bypass row-level security" in message
    ), message
    assert any("the app cannot start" in r.getMessage() for r in caplog.records)


def test_an_unreachable_database_is_one_line(tenantkit_db: TestDatabase) -> None:
    url = tenantkit_db.url("app").set(host="127.0.0.1", port=1, query={})
    engine = tenantkit.create_engine(url)
    try:
        with pytest.raises(StartupCheckFailed) as info:
            tenantkit.check_engine(engine)
    finally:
        engine.dispose()
    assert str(info.value).startswith("cannot connect to the database: ")
    assert "\n" not in str(info.value)


def test_a_schema_missing_or_behind_head(tenantkit_server: RunningServer) -> None:
    bare = provision_database(tenantkit_server)
    signing = tenantkit.create_engine(bare.url("app"), poolclass=sa.NullPool)
    try:  # a signing engine's key check comes first, and says what to do
        with pytest.raises(StartupCheckFailed, match="run `tenantkit migrate`") as info:
            tenantkit.check_engine(signing)
        assert "\n" not in str(info.value)
    finally:
        signing.dispose()
    engine = tenantkit.create_engine(bare.url("app"), poolclass=sa.NullPool, signer=None)
    try:
        with pytest.raises(StartupCheckFailed, match="schema is not in this database"):
            tenantkit.check_engine(engine)
        migrate.upgrade(bare.url("owner"), roles=bare.roles, revision="0004")
        with pytest.raises(StartupCheckFailed) as info:
            tenantkit.check_engine(engine)
        assert f"behind head {migrate.head_revision()}: run `tenantkit migrate`" in str(info.value)
        migrate.upgrade(bare.url("owner"), roles=bare.roles)
        tenantkit.check_engine(engine)
    finally:
        engine.dispose()
        if not tenantkit_server.throwaway:
            bare.drop()


async def test_fastapi_lifespan_refuses_to_start(
    engines: dict[str, sa.Engine], token_verifier: TokenVerifier
) -> None:
    app = FastAPI()
    TenantKit(token_verifier, sessions=sessionmaker(engines["owner"])).init_app(app)
    with pytest.raises(StartupCheckFailed, match="bypass row-level security"):
        async with app.router.lifespan_context(app):
            pass
    ok = FastAPI()
    TenantKit(token_verifier, sessions=sessionmaker(engines["app"])).init_app(ok)
    async with ok.router.lifespan_context(ok):
        pass


def test_flask_init_app_refuses(
    engines: dict[str, sa.Engine], token_verifier: TokenVerifier
) -> None:
    with pytest.raises(StartupCheckFailed, match="bypass row-level security"):
        FlaskTenantKit(Flask(__name__), verifier=token_verifier,
                       sessions=sessionmaker(engines["owner"]))
    FlaskTenantKit(Flask(__name__), verifier=token_verifier, sessions=sessionmaker(engines["app"]))
