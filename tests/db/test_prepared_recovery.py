"""The binding's prepared statements survive psycopg's own DEALLOCATE ALL bookkeeping.

psycopg queues a DEALLOCATE ALL after a ROLLBACK while it holds prepared
statements, which drops tenantkit's too; tenantkit then prepares again (26000).
Statements it prepared after that are still on the server when it next empties
its set, so preparing one again answers 42P05: that is recovered from too (the
`make demo` tour hit it: a refused invite, then the next request on the
connection failed).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine

from tenantkit import tenant_context
from tenantkit.testing import TwoOrgs


def test_a_statement_already_prepared_is_used_not_refused(
    app_engine: Engine, seed: TwoOrgs
) -> None:
    ctx = seed.a.context(seed.a.member_id)
    with tenant_context(ctx), app_engine.connect() as conn:
        for _ in range(2):  # the first after checkout, then the plain bind
            with conn.begin():
                assert conn.execute(sa.text("SELECT tenantkit.current_org_id()")).scalar()
        dbapi = conn.connection.dbapi_connection
        assert b"_tenantkit_bind" in dbapi._tk_prepared  # type: ignore[union-attr]
        dbapi._tk_prepared = frozenset()  # type: ignore[union-attr]  # forgotten, not gone
        with conn.begin():
            org = conn.execute(sa.text("SELECT tenantkit.current_org_id()::text")).scalar()
        assert org == seed.a.org_id
        assert b"_tenantkit_bind" in dbapi._tk_prepared  # type: ignore[union-attr]
