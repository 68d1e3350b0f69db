"""A tenantkit connection is configured by `connect()`'s keyword arguments.

The options (`tenantkit_strict`, `tenantkit_binding`, `tenantkit_signer`) are
taken at construction and never reach psycopg; `install(engine)` passes them
from its `do_connect` hook rather than writing the connection's state from
outside. Run on two seeded orgs: strict refuses an unbound transaction, the
default runs it unbound and RLS shows no tenant rows.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import tenantkit
from tenantkit import MissingTenantContext, tenant_context
from tenantkit.db import TenantAsyncConnection, TenantConnection
from tenantkit.testing import TestDatabase, TwoOrgs

ORGS = "SELECT DISTINCT org_id::text FROM public.notes"


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
def test_strict_is_a_connect_argument(
    tenantkit_db: TestDatabase, notes: TwoOrgs, strict: bool
) -> None:
    with TenantConnection.connect(tenantkit_db.conninfo("app"), tenantkit_strict=strict) as conn:
        with tenant_context(None):
            if strict:
                with pytest.raises(MissingTenantContext):
                    conn.execute(ORGS)
            else:
                assert conn.execute(ORGS).fetchall() == []
        conn.rollback()
        with tenant_context(notes.a.context(notes.a.member_id)):
            assert conn.execute(ORGS).fetchall() == [(notes.a.org_id,)]


async def test_strict_is_a_connect_argument_async(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    conninfo = tenantkit_db.conninfo("app")
    async with await TenantAsyncConnection.connect(conninfo, tenantkit_strict=True) as conn:
        with tenant_context(None), pytest.raises(MissingTenantContext):
            await conn.execute(ORGS)


@pytest.mark.parametrize("binding", ["set_config", "set_local"])
def test_the_binding_is_a_connect_argument(
    tenantkit_db: TestDatabase, notes: TwoOrgs, binding: str
) -> None:
    conninfo = tenantkit_db.conninfo("app")
    with (
        TenantConnection.connect(conninfo, tenantkit_binding=binding) as conn,
        tenant_context(notes.b.context(notes.b.member_id)),
    ):
        assert conn.execute(ORGS).fetchall() == [(notes.b.org_id,)]


def test_an_unknown_binding_is_refused(tenantkit_db: TestDatabase) -> None:
    with pytest.raises(ValueError, match="set_config"):
        TenantConnection.connect(tenantkit_db.conninfo("app"), tenantkit_binding="nope")


def test_an_engine_passes_its_options_to_connect(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), strict=True)
    try:
        with engine.connect() as conn, tenant_context(None), pytest.raises(MissingTenantContext):
            conn.execute(sa.text(ORGS))
    finally:
        engine.dispose()
