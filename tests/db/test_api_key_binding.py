"""Org API keys as a key principal in the database (migration 0010).

Two seeded tenants, a tenant table open to keys (`any_member() | api_key()` to
read, `permission(...)` to write) and one left to members (`any_member()`):
- a key reads its org's rows and none of another's; a key of B naming A binds nothing;
- archived or expired, it stops at the next transaction of the same context;
- any_member() and role rules do not admit a key; permission rules use the key's;
- tenantkit's own tables give a key nothing;
- the key principal is signed: forged settings give nothing (and, with signing
  switched off, show what the signature protects); a user cannot pose as a key;
- a leaky function of the app role sees no other key's or member's row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import sqlalchemy as sa

from tenantkit import TenantContext, tenant_context
from tenantkit.db.signing import BindingSigner, set_signing
from tenantkit.errors import Forbidden
from tenantkit.orgs import Actor, Management
from tenantkit.sqlfiles import render_sql
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.key_tables import ROWS, OrgKeys, new_key

READ_ITEMS = sa.text("SELECT org_id::text FROM public.key_items")
READ_MEMBER_ONLY = sa.text("SELECT count(*) FROM public.member_only")
READ_ADMIN_ONLY = sa.text("SELECT count(*) FROM public.admin_only")
READ_KEYS_ONLY = sa.text("SELECT count(*) FROM public.keys_only")


@pytest.fixture
def keys(org_keys: OrgKeys) -> Keys:
    """The shared keys, by id (this module binds ids; the web tests send secrets)."""
    return Keys(org_keys.orgs, org_keys.a_writer.api_key_id, org_keys.a_plain.api_key_id,
                org_keys.b_writer.api_key_id)


@dataclass(frozen=True)
class Keys:
    orgs: TwoOrgs
    a_writer: str  # org A, items:write
    a_plain: str  # org A, no permission
    b_writer: str  # org B, items:write


def _orgs_seen(app_engine: sa.Engine, ctx: TenantContext) -> list[str]:
    with tenant_context(ctx), app_engine.connect() as conn:
        return list(conn.execute(READ_ITEMS).scalars())


def test_a_key_reads_its_orgs_rows_and_none_of_anothers(app_engine: sa.Engine, keys: Keys) -> None:
    a, b = keys.orgs.a, keys.orgs.b
    assert _orgs_seen(app_engine, TenantContext.for_api_key(keys.a_writer, a.org_id)) == (
        [a.org_id] * ROWS
    )
    assert _orgs_seen(app_engine, TenantContext.for_api_key(keys.b_writer, b.org_id)) == (
        [b.org_id] * ROWS
    )
    # A key of B bound with org A (whatever the app was told) binds nothing.
    assert _orgs_seen(app_engine, TenantContext.for_api_key(keys.b_writer, a.org_id)) == []
    # An unknown key id binds nothing either.
    unknown = "00000000-0000-4000-8000-000000000001"
    assert _orgs_seen(app_engine, TenantContext.for_api_key(unknown, a.org_id)) == []


def test_the_database_names_the_key_principal(app_engine: sa.Engine, keys: Keys) -> None:
    a = keys.orgs.a
    with tenant_context(TenantContext.for_api_key(keys.a_plain, a.org_id)), \
            app_engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT tenantkit.current_api_key_id()::text, tenantkit.current_user_id(), "
            "tenantkit.current_org_id(), (SELECT count(*) FROM tenantkit.current_membership)"
        )).one()
    # The key, no user; current_org_id() is the bound *member's* org: none.
    assert tuple(row) == (keys.a_plain, None, None, 1)


@pytest.mark.parametrize("how", ["archived", "expired"])
def test_a_key_stops_at_the_next_transaction(
    app_engine: sa.Engine, owner_engine: sa.Engine, service_engine: sa.Engine,
    keys: Keys, how: str,
) -> None:
    a = keys.orgs.a
    key = new_key(service_engine, a.org_id).api_key_id
    ctx = TenantContext.for_api_key(key, a.org_id)
    # One context, one connection, two transactions: an authenticated request's
    # later transaction after the key was archived meanwhile.
    with tenant_context(ctx), app_engine.connect() as conn:
        assert len(conn.execute(READ_ITEMS).all()) == ROWS
        conn.commit()
        if how == "archived":
            with service_engine.begin() as svc:
                Management(svc, Actor.service()).api_keys.archive(key)
        else:
            with owner_engine.begin() as owner:
                owner.execute(sa.text(
                    "UPDATE tenantkit.api_keys SET expires_at = now() - interval '1 second' "
                    "WHERE api_key_id = :k"), {"k": key})
        assert conn.execute(READ_ITEMS).all() == []
        assert conn.execute(sa.text("SELECT tenantkit.current_api_key_id()")).scalar() is None


def test_member_and_role_rules_do_not_admit_a_key(app_engine: sa.Engine, keys: Keys) -> None:
    a = keys.orgs.a
    with tenant_context(TenantContext.for_api_key(keys.a_writer, a.org_id)), \
            app_engine.connect() as conn:
        assert conn.execute(READ_MEMBER_ONLY).scalar_one() == 0  # any_member(): users only
        assert conn.execute(READ_ADMIN_ONLY).scalar_one() == 0  # a key has no role
    # ... while a member of A reads all three.
    with tenant_context(a.context(a.member_id)), app_engine.connect() as conn:
        assert conn.execute(READ_MEMBER_ONLY).scalar_one() == ROWS
        assert conn.execute(READ_ADMIN_ONLY).scalar_one() == ROWS
        assert len(conn.execute(READ_ITEMS).all()) == ROWS


def test_permission_rules_use_the_keys_permissions(app_engine: sa.Engine, keys: Keys) -> None:
    a = keys.orgs.a
    insert = sa.text("INSERT INTO public.key_items (org_id, body) VALUES (:o, 'by key')")
    with tenant_context(TenantContext.for_api_key(keys.a_writer, a.org_id)), \
            app_engine.connect() as conn:
        conn.execute(insert, {"o": a.org_id})
        # The restrictive policy still holds the key to its org.
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            conn.execute(insert, {"o": keys.orgs.b.org_id})
        conn.rollback()
    with tenant_context(TenantContext.for_api_key(keys.a_plain, a.org_id)), \
            app_engine.connect() as conn:
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            conn.execute(insert, {"o": a.org_id})
        conn.rollback()
        # Without the permission its updates and deletes touch nothing.
        assert conn.execute(sa.text("DELETE FROM public.key_items")).rowcount == 0
        conn.rollback()


def test_tenantkits_own_tables_give_a_key_nothing(app_engine: sa.Engine, keys: Keys) -> None:
    a = keys.orgs.a
    with tenant_context(TenantContext.for_api_key(keys.a_writer, a.org_id)), \
            app_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT * FROM tenantkit.current_org()")).all() == []
        assert conn.execute(sa.text("SELECT org_id FROM tenantkit.orgs")).all() == []
        assert conn.execute(sa.text(
            "SELECT count(*) FROM tenantkit.memberships")).scalar_one() == 0
        conn.rollback()
        # Nor can it mint another key, even one carrying only its own permissions.
        with pytest.raises(Forbidden, match="row-level security"):
            Management(conn).api_keys.create(kind="org", org_id=a.org_id)
        conn.rollback()


# --- the key principal is signed -----------------------------------------------------


@pytest.fixture(params=["protected", "exposed"])
def signing(request: pytest.FixtureRequest, tenantkit_db: TestDatabase) -> Iterator[bool]:
    """protected: signing on (the run's default); exposed: switched off for this test."""
    on = request.param == "protected"
    if not on:
        with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
            set_signing(conn, False)
    try:
        yield on
    finally:
        if not on:
            with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
                assert set_signing(conn, True)


FORGE = (
    "SELECT set_config('tenantkit.user_id', %s, true), set_config('tenantkit.org_id', %s, true),"
    " set_config('tenantkit.api_key_id', %s, true), set_config('tenantkit.signature', %s, true),"
    " set_config('tenantkit.bound', EXTRACT(epoch FROM now())::numeric::text, true)"
)


def _forged(tenantkit_db: TestDatabase, user: str, org: str, key: str, signature: str) -> int:
    # The attacker: the app role's own SQL, no engine, its own settings.
    with psycopg.connect(tenantkit_db.conninfo("app")) as conn:
        conn.execute(FORGE, (user, org, key, signature))
        row = conn.execute("SELECT count(*) FROM public.key_items").fetchone()
        conn.rollback()
    assert row is not None
    return int(row[0])


def test_a_forged_key_setting_gives_nothing(
    tenantkit_db: TestDatabase, keys: Keys, signing: bool
) -> None:
    a = keys.orgs.a
    seen = _forged(tenantkit_db, "", a.org_id, keys.a_writer, "")
    assert seen == (0 if signing else ROWS)


def test_a_user_bindings_signature_is_no_keys(
    tenantkit_db: TestDatabase, keys: Keys, signing: bool
) -> None:
    # Domain separation: the user binding's message signed over the key's id does
    # not verify as the key principal's.
    signer = BindingSigner.from_env()
    assert signer is not None, "the test run signs (tenantkit.testing.plugin.binding_key)"
    a = keys.orgs.a
    signature = signer.sign(keys.a_writer, a.org_id, 0, signer.expiry()).decode()
    assert _forged(tenantkit_db, "", a.org_id, keys.a_writer, signature) == (
        0 if signing else ROWS
    )
    proper = signer.sign_api_key(keys.a_writer, a.org_id, 0, signer.expiry()).decode()
    assert _forged(tenantkit_db, "", a.org_id, keys.a_writer, proper) == ROWS


def test_a_user_cannot_pose_as_a_key(app_engine: sa.Engine, keys: Keys) -> None:
    # A member's properly signed transaction sets a key id of its own: the binding
    # is no key (a user is bound), and api_key() does not count it.
    a = keys.orgs.a
    with tenant_context(a.context(a.member_id)), app_engine.connect() as conn:
        conn.execute(sa.text("SELECT set_config('tenantkit.api_key_id', :k, true)"),
                     {"k": keys.a_writer})
        assert conn.execute(sa.text("SELECT tenantkit.bound_api_key_id()")).scalar() is None
        assert conn.execute(sa.text("SELECT tenantkit.current_api_key_id()")).scalar() is None
        assert conn.execute(READ_KEYS_ONLY).scalar_one() == 0
        # The user's own binding is intact: any_member() still admits them.
        assert len(conn.execute(READ_ITEMS).all()) == ROWS
    # ... where the key itself reads that table.
    with tenant_context(TenantContext.for_api_key(keys.a_plain, a.org_id)), \
            app_engine.connect() as conn:
        assert conn.execute(READ_KEYS_ONLY).scalar_one() == ROWS


LEAK = """
CREATE FUNCTION pg_temp.leak(o uuid, u uuid) RETURNS boolean
    LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
    RAISE NOTICE 'seen % %', o, u;
    RETURN true;
END $$;
"""


# current_membership with its UNION ALL at the top, which PostgreSQL flattens
# past the security barrier (the shape 0010 avoids).
FLATTENED = """
CREATE OR REPLACE VIEW tenantkit.current_membership WITH (security_barrier) AS
    SELECT b.org_id, b.user_id, b.role, b.additional_roles
    FROM tenantkit._bound_membership AS b
    UNION ALL
    SELECT k.org_id, NULL::uuid, NULL::text, NULL::text[] FROM tenantkit._bound_key AS k
"""


@pytest.fixture(params=["protected", "exposed"])
def barrier(request: pytest.FixtureRequest, tenantkit_db: TestDatabase) -> Iterator[bool]:
    """protected: 0012's view (one SELECT, no UNION ALL); exposed: 0010's branches with
    their UNION ALL at the top."""
    if request.param == "protected":
        yield True
        return
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
        conn.execute(FLATTENED)
    try:
        yield False
    finally:
        with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
            conn.execute(render_sql("0010_api_keys.sql", tenantkit_db.roles))
            conn.execute(render_sql("0012_policy_probe.sql", tenantkit_db.roles))


def _leaked(app_engine: sa.Engine, ctx: TenantContext) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    with tenant_context(ctx), app_engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None

        def note(diag: psycopg.errors.Diagnostic) -> None:
            parts = (diag.message_primary or "").split()
            if parts[:1] == ["seen"]:
                seen.add((parts[1], parts[2]))

        raw.add_notice_handler(note)
        try:
            conn.execute(sa.text(LEAK))
            for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
                conn.execute(sa.text(f"SET LOCAL {setting} = off"))
            conn.execute(sa.text(
                "SELECT count(*) FROM tenantkit.current_membership AS m "
                "WHERE pg_temp.leak(m.org_id, m.user_id)"))
        finally:
            raw.remove_notice_handler(note)
            conn.rollback()
            conn.invalidate()  # the temp schema goes with the connection
    return seen


def test_a_leaky_function_sees_only_the_bound_row(
    app_engine: sa.Engine, keys: Keys, app_may_create_temp: None, barrier: bool
) -> None:
    a = keys.orgs.a
    by_key = _leaked(app_engine, TenantContext.for_api_key(keys.a_writer, a.org_id))
    by_member = _leaked(app_engine, a.context(a.member_id))
    assert by_key <= {(a.org_id, "<NULL>")}, by_key
    if barrier:
        assert by_member <= {(a.org_id, a.member_id)}, by_member
    else:  # flattened, the key branch's view shows the app role other members
        assert by_member - {(a.org_id, a.member_id)}, by_member
