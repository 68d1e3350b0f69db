"""Check 20 ("signed-binding"): signing on, the verifier the owner's alone."""

from __future__ import annotations

import psycopg
import sqlalchemy as sa

from tenantkit.db.signing import set_signing
from tenantkit.testing import TestDatabase
from tests.doctor.helpers import apply_fix, of_check


def test_the_runs_database_passes(admin_engine: sa.Engine, tenantkit_db: TestDatabase) -> None:
    with admin_engine.connect() as conn:
        assert of_check(conn, tenantkit_db, "signed-binding") == []


def test_a_readable_verifier_is_an_error_and_the_fix_revokes_it(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase
) -> None:
    with admin_engine.connect() as conn:
        grant = f'GRANT SELECT ON tenantkit.binding_keys TO "{tenantkit_db.roles.app}"'
        conn.execute(sa.text(grant))
        found = of_check(conn, tenantkit_db, "signed-binding")
        assert [(f.severity, f.object) for f in found] == [("error", "tenantkit.binding_keys")]
        assert tenantkit_db.roles.app in found[0].problem
        apply_fix(conn, found[0])
        assert of_check(conn, tenantkit_db, "signed-binding") == []
        conn.rollback()


def test_signing_off_is_a_warning(admin_engine: sa.Engine, tenantkit_db: TestDatabase) -> None:
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner:
        set_signing(owner, False)
    try:
        with admin_engine.connect() as conn:
            found = of_check(conn, tenantkit_db, "signed-binding")
            assert [(f.severity, f.object) for f in found] == [("warning", "tenantkit.settings")]
            apply_fix(conn, found[0])
            conn.commit()
            assert of_check(conn, tenantkit_db, "signed-binding") == []
    finally:
        with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner:
            set_signing(owner, True)
