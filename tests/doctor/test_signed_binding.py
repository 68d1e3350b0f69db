"""Check 20 ("signed-binding"): signing on, the verifier the owner's alone."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from tenantkit.db.signing import BindingKey, add_key, retire_key, set_signing
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


def test_signing_on_with_no_live_key_is_an_error(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase, binding_key: BindingKey | None
) -> None:
    """A fresh install signs by default: until a key is added, every app connection is
    refused, and the doctor says so (with signing off, no such finding)."""
    if binding_key is None:
        pytest.skip("an unsigned run (TENANTKIT_TEST_UNSIGNED=1) has no key to retire")
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner:
        assert retire_key(owner, binding_key.key_id)
    try:
        with admin_engine.connect() as conn:
            found = of_check(conn, tenantkit_db, "signed-binding")
            assert [(f.severity, f.object) for f in found] == [("error", "tenantkit.binding_keys")]
            assert "no binding key is live" in found[0].problem
            assert "tenantkit keys binding add" in found[0].fix
        with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner:
            set_signing(owner, False)
        with admin_engine.connect() as conn:
            found = of_check(conn, tenantkit_db, "signed-binding")
            assert [(f.severity, f.object) for f in found] == [("warning", "tenantkit.settings")]
    finally:
        with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner:
            add_key(owner, binding_key)
            set_signing(owner, True)
