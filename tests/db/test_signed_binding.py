"""Signed binding (migration 0006): SQL running as the app role cannot
impersonate anyone. Every attack is run twice: with signing on (it gets
nothing) and with signing switched off (it works), so each test proves the
protection is what stops it.

The attacker: arbitrary SQL inside a bound transaction of a Member of org A,
knowing every id (ids are not secret).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import tenantkit
from tenantkit import tenant_context
from tenantkit.db import TenantConnection
from tenantkit.db.signing import BindingKey, BindingSigner, add_key, retire_key
from tenantkit.errors import BindingError
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.conftest import NOTES_PER_ORG
from tests.doctor.helpers import bind

pytestmark = [
    pytest.mark.usefixtures("notes"),
    pytest.mark.skipif(os.environ.get("TENANTKIT_TEST_UNSIGNED") == "1",
                       reason="an unsigned run (TENANTKIT_TEST_UNSIGNED=1): nothing signs"),
]

NOTES = sa.text("SELECT count(*) FROM public.notes")
SPOOF = sa.text(
    "SELECT set_config('tenantkit.user_id', :u, true), set_config('tenantkit.org_id', :o, true)"
)


def _signer() -> BindingSigner:
    signer = BindingSigner.from_env()
    assert signer is not None, "the test run signs (tenantkit.testing.plugin.binding_key)"
    return signer


def test_the_run_signs_and_the_database_requires_it(
    superuser: psycopg.Connection[tuple[object, ...]],
) -> None:
    row = superuser.execute("SELECT signed_binding FROM tenantkit.settings").fetchone()
    assert row == (True,)
    assert _signer().key.key_id == "test-run"


def test_another_orgs_member_and_org_give_nothing(
    app_sessions: sessionmaker[Session], notes: TwoOrgs, signing: bool
) -> None:
    a, b = notes.a, notes.b
    with tenant_context(a.context(a.member_id)), app_sessions() as session:
        assert session.execute(NOTES).scalar_one() == NOTES_PER_ORG
        session.execute(SPOOF, {"u": b.member_id, "o": b.org_id})
        seen = session.execute(NOTES).scalar_one()
        inserted = session.execute(
            sa.text("INSERT INTO public.notes (org_id, body) SELECT :o, 'spoofed' "
                    "WHERE tenantkit.current_org_id() IS NOT NULL RETURNING id"),
            {"o": b.org_id},
        ).all() if not signing else None
        session.rollback()
    if signing:
        assert seen == 0
        with tenant_context(a.context(a.member_id)), app_sessions() as session:
            session.execute(SPOOF, {"u": b.member_id, "o": b.org_id})
            with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
                session.execute(
                    sa.text("INSERT INTO public.notes (org_id, body) VALUES (:o, 'spoofed')"),
                    {"o": b.org_id},
                )
            session.rollback()
    else:
        assert seen == NOTES_PER_ORG  # B's notes: the hole signing closes
        assert inserted


def test_binding_as_ones_own_owner_gains_nothing(
    app_sessions: sessionmaker[Session], notes: TwoOrgs, signing: bool
) -> None:
    a = notes.a
    with tenant_context(a.context(a.member_id)), app_sessions() as session:
        session.execute(SPOOF, {"u": a.owner_id, "o": a.org_id})
        owner = session.execute(sa.text(
            "SELECT tenantkit.has_min_role('Owner'), "
            "tenantkit.has_permission('tenantkit::can_delete_org'), "
            "(SELECT count(*) FROM tenantkit.api_keys), tenantkit.current_user_id()::text"
        )).one()
        session.rollback()
    if signing:
        assert owner[:2] == (False, False) and owner[3] is None
    else:
        assert owner[:2] == (True, True) and owner[3] == a.owner_id


def _signature_of(conn: psycopg.Connection[Any]) -> tuple[str, str, str]:
    row = conn.execute(
        "SELECT current_setting('tenantkit.user_id'), current_setting('tenantkit.org_id'), "
        "current_setting('tenantkit.signature')"
    ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1]), str(row[2])


def _replay(conn: psycopg.Connection[Any], user: str, org: str, signature: str) -> int:
    conn.execute(
        "SELECT set_config('tenantkit.user_id', %s, true), "
        "set_config('tenantkit.org_id', %s, true), set_config('tenantkit.signature', %s, true)",
        (user, org, signature),
    )
    row = conn.execute("SELECT count(*) FROM public.notes").fetchone()
    assert row is not None
    return int(str(row[0]))


def test_a_signature_read_from_another_session_binds_nothing_there(
    tenantkit_db: TestDatabase, notes: TwoOrgs, signing: bool
) -> None:
    a, b = notes.a, notes.b
    with psycopg.connect(tenantkit_db.conninfo("app")) as victim, \
            psycopg.connect(tenantkit_db.conninfo("app")) as attacker:
        bind(victim, b.org_id, b.owner_id)
        stolen = _signature_of(victim)
        bind(attacker, a.org_id, a.member_id)
        assert _replay(attacker, *stolen) == (0 if signing else NOTES_PER_ORG)


def test_the_set_local_modes_literals_in_pg_stat_activity_do_not_replay(
    tenantkit_db: TestDatabase, notes: TwoOrgs, signing: bool
) -> None:
    a, b = notes.a, notes.b
    engine = tenantkit.create_engine(tenantkit_db.url("app"), binding="set_local",
                                     poolclass=sa.NullPool)
    try:
        with tenant_context(b.context(b.owner_id)), engine.connect() as conn:
            assert conn.execute(NOTES).scalar_one() == NOTES_PER_ORG
            conn.execute(sa.text("SELECT 1 /* the victim's transaction stays open */"))
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            with psycopg.connect(tenantkit_db.conninfo("app")) as attacker:
                # What the attacker sees: the victim's last statement is not the bind any
                # more, but any moment between the bind and the next statement shows it.
                # Read it the way the attacker can: from pg_stat_activity while the bind
                # is the current query (here replayed from the set_local text itself).
                bind(attacker, a.org_id, a.member_id)
                text = _set_local_text(engine, b.context(b.owner_id), pid)
                stolen = _literals(text)
                assert stolen[2].split(":")[2] == str(pid)  # bound to the victim's backend
                assert _replay(attacker, *stolen) == (0 if signing else NOTES_PER_ORG)
            conn.rollback()
    finally:
        engine.dispose()


def _set_local_text(engine: sa.Engine, ctx: tenantkit.TenantContext, pid: int) -> str:
    # The very statement the victim's connection sent, as pg_stat_activity shows it
    # while it runs: rebuilt with the same signer, pid and expiry window.
    from tenantkit.db._statements import bind_set_local

    signer = _signer()
    assert ctx.user_id is not None
    sig = signer.sign(ctx.user_id, ctx.org_id, pid, signer.expiry())
    user, org, key = ctx._params
    return bind_set_local(*(b"'" + v + b"'" for v in (user, org, sig, key))).decode()


def _literals(text: str) -> tuple[str, str, str]:
    found = dict(re.findall(r"SET LOCAL tenantkit\.(\w+) = '([^']*)'", text))
    return found["user_id"], found["org_id"], found["signature"]


def test_an_expired_signature_binds_nothing(
    tenantkit_db: TestDatabase, notes: TwoOrgs, signing: bool
) -> None:
    a = notes.a
    signer = _signer()
    with psycopg.connect(tenantkit_db.conninfo("app")) as conn:
        bind(conn, a.org_id, a.member_id)
        pid = conn.info.backend_pid
        expired = signer.sign(a.member_id, a.org_id, pid, int(time.time()) - 5).decode()
        assert _replay(conn, a.member_id, a.org_id, expired) == (0 if signing else NOTES_PER_ORG)


def test_a_rotated_out_key_binds_nothing_and_two_live_keys_both_do(
    tenantkit_db: TestDatabase, notes: TwoOrgs, signing: bool
) -> None:
    a = notes.a
    new = BindingKey.generate("rotation-test")
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner:
        add_key(owner, new)
    try:
        signer = BindingSigner([new])
        with psycopg.connect(tenantkit_db.conninfo("app")) as conn:
            bind(conn, a.org_id, a.member_id)  # the run's key
            assert conn.execute("SELECT count(*) FROM public.notes").fetchone() == (NOTES_PER_ORG,)
            sig = signer.sign(a.member_id, a.org_id, conn.info.backend_pid, signer.expiry())
            assert _replay(conn, a.member_id, a.org_id, sig.decode()) == NOTES_PER_ORG
            with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner:
                assert retire_key(owner, new.key_id)
            expected = 0 if signing else NOTES_PER_ORG
            assert _replay(conn, a.member_id, a.org_id, sig.decode()) == expected
    finally:
        with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner:
            owner.execute("DELETE FROM tenantkit.binding_keys WHERE key_id = %s", (new.key_id,))


def test_the_engine_refuses_a_key_the_database_does_not_know(
    tenantkit_db: TestDatabase,
) -> None:
    wrong = BindingSigner([BindingKey.generate("test-run")])  # same id, other secret
    unknown = BindingSigner([BindingKey.generate("nobody")])
    for signer, message in ((wrong, "does not match"), (unknown, "is not in the database")):
        engine = tenantkit.create_engine(tenantkit_db.url("app"), signer=signer,
                                         poolclass=sa.NullPool)
        try:
            with pytest.raises(BindingError, match=message), engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()


def test_an_unsigned_engine_is_refused_at_its_first_connection_when_signing_is_on(
    tenantkit_db: TestDatabase, notes: TwoOrgs, signing: bool
) -> None:
    """Not silent empty results: a typed error naming what to run, before any
    statement of the app; with signing off the same engine works."""
    a = notes.a
    engine = tenantkit.create_engine(tenantkit_db.url("app"), signer=None,
                                     poolclass=sa.NullPool)
    try:
        if signing:
            with pytest.raises(BindingError) as refused, \
                    tenant_context(a.context(a.member_id)), engine.connect() as conn:
                conn.execute(NOTES)
            message = str(refused.value)
            assert "requires signed binding" in message
            for command in ("tenantkit keys binding new", "tenantkit keys binding add",
                            "TENANTKIT_BINDING_SECRET", "tenantkit keys binding disable"):
                assert command in message
        else:
            with tenant_context(a.context(a.member_id)), engine.connect() as conn:
                assert conn.execute(NOTES).scalar_one() == NOTES_PER_ORG
    finally:
        engine.dispose()


def test_an_unsigned_engine_is_refused_unbound_and_in_autocommit_too(
    tenantkit_db: TestDatabase,
) -> None:
    """The check is the connection's first use, whatever its first statement."""
    engine = tenantkit.create_engine(tenantkit_db.url("app"), signer=None,
                                     poolclass=sa.NullPool)
    try:
        with pytest.raises(BindingError, match="requires signed binding"), \
                engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        auto = engine.execution_options(isolation_level="AUTOCOMMIT")
        with pytest.raises(BindingError, match="requires signed binding"), \
                auto.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()
    with pytest.raises(BindingError, match="requires signed binding"), \
            TenantConnection.connect(tenantkit_db.conninfo("app"),
                                     tenantkit_signer=None) as direct:
        direct.execute("SELECT 1")


def test_the_service_role_is_never_refused_for_lack_of_a_key(
    tenantkit_db: TestDatabase,
) -> None:
    """The service role binds nothing (42501 on the check): never refused for it."""
    engine = tenantkit.create_engine(tenantkit_db.url("service"), signer=None,
                                     poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_the_verifier_is_unreadable_to_the_app_and_service_roles(
    tenantkit_db: TestDatabase,
) -> None:
    for role in ("app", "service"):
        with psycopg.connect(tenantkit_db.conninfo(role)) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM tenantkit.binding_keys")
            conn.rollback()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("UPDATE tenantkit.settings SET signed_binding = false")


def test_the_service_role_cannot_turn_signing_off_by_replacing_the_row(
    tenantkit_db: TestDatabase,
) -> None:
    # The settings row is the service role's to read and (but for the signing flag)
    # to update, not to delete and insert again with the flag off (migration 0015).
    with psycopg.connect(tenantkit_db.conninfo("service")) as conn:
        for statement in ("DELETE FROM tenantkit.settings",
                          "INSERT INTO tenantkit.settings (singleton, signed_binding) "
                          "VALUES (true, false) ON CONFLICT (singleton) DO NOTHING",
                          "TRUNCATE tenantkit.settings"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
        assert conn.execute("SELECT signed_binding FROM tenantkit.settings").fetchone() \
            == (True,)


def test_with_0001s_grants_the_service_role_could_turn_signing_off(
    tenantkit_db: TestDatabase, notes: TwoOrgs,
    superuser: psycopg.Connection[tuple[object, ...]],
) -> None:
    # The protection switched off: with INSERT and DELETE granted back, the service
    # role replaces the row with signing off and an unsigned engine reads A's notes.
    row = superuser.execute("SELECT to_jsonb(s)::text FROM tenantkit.settings AS s").fetchone()
    assert row is not None
    service = tenantkit_db.roles.service
    superuser.execute(f'GRANT INSERT, DELETE ON tenantkit.settings TO "{service}"')
    a = notes.a
    engine = tenantkit.create_engine(tenantkit_db.url("app"), signer=None,
                                     poolclass=sa.NullPool)
    try:
        with psycopg.connect(tenantkit_db.conninfo("service")) as conn:
            conn.execute("DELETE FROM tenantkit.settings")
            conn.execute("INSERT INTO tenantkit.settings (signed_binding) VALUES (false)")
            conn.commit()
        with tenant_context(a.context(a.member_id)), engine.connect() as conn:
            assert conn.execute(NOTES).scalar_one() == NOTES_PER_ORG
    finally:
        engine.dispose()
        superuser.execute(f'REVOKE INSERT, DELETE ON tenantkit.settings FROM "{service}"')
        with superuser.transaction():
            superuser.execute("DELETE FROM tenantkit.settings")
            superuser.execute("INSERT INTO tenantkit.settings SELECT * FROM "
                              "jsonb_populate_record(NULL::tenantkit.settings, %s::jsonb)", row)

class _CountingSigner(BindingSigner):
    __slots__ = ("made",)

    def __init__(self, signer: BindingSigner) -> None:
        super().__init__(signer.keys, ttl=signer.ttl)
        self.made: list[str] = []

    def sign(self, user_id: str, org_id: str, backend_pid: int, expiry: int) -> bytes:
        self.made.append(user_id)
        return super().sign(user_id, org_id, backend_pid, expiry)


def test_a_connection_serving_several_users_signs_each_once_per_window(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    # One pooled connection, two users alternating (as a pool serves requests):
    # each signature is made once and reused for its context's window, and every
    # transaction still binds its own user.
    signer = _CountingSigner(_signer())
    engine = tenantkit.create_engine(tenantkit_db.url("app"), signer=signer, pool_size=1)
    a, b = notes.a, notes.b
    contexts = [a.context(a.member_id), b.context(b.member_id)]
    try:
        before = time.time()
        for ctx in contexts * 3:
            with tenant_context(ctx), engine.connect() as conn:
                assert conn.execute(NOTES).scalar_one() == NOTES_PER_ORG
                orgs = conn.execute(sa.text("SELECT DISTINCT org_id::text FROM public.notes"))
                assert orgs.scalars().all() == [ctx.org_id]
        windows = signer.expiry() != signer.expiry(before)  # a 15-s boundary crossed
    finally:
        engine.dispose()
    assert len(signer.made) == (4 if windows else 2), signer.made
