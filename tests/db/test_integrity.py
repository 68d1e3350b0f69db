"""Integrity rules enforced by the database itself, whoever writes."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from tenantkit.testing import TestDatabase, TwoOrgs


def new_user(
    conn: psycopg.Connection[tuple[object, ...]],
    email: str,
    isolated_org: str | None = None,
    *,
    confirmed: bool = False,
) -> str:
    row = conn.execute(
        "INSERT INTO tenantkit.users (email, isolated_org_id, email_confirmed) "
        "VALUES (%s, %s, %s) RETURNING user_id",
        (email, isolated_org, confirmed),
    ).fetchone()
    assert row is not None
    return str(row[0])


def new_org(conn: psycopg.Connection[tuple[object, ...]], **fields: object) -> str:
    columns = ["name", *fields]
    values = [f"Org {secrets.token_hex(3)}", *fields.values()]
    row = conn.execute(
        f"INSERT INTO tenantkit.orgs ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(values))}) RETURNING org_id",
        values,
    ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def service(tenantkit_db: TestDatabase) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(tenantkit_db.conninfo("service"), autocommit=True) as conn:
        yield conn


def test_emails_are_lower_cased_and_unique_per_scope(
    service: psycopg.Connection[tuple[object, ...]],
) -> None:
    tag = secrets.token_hex(4)
    user = new_user(service, f"  Mixed.Case+{tag}@Example.COM ")
    stored = service.execute(
        "SELECT email FROM tenantkit.users WHERE user_id = %s", (user,)
    ).fetchone()
    assert stored == (f"mixed.case+{tag}@example.com",)
    with pytest.raises(psycopg.errors.UniqueViolation):
        new_user(service, f"MIXED.case+{tag}@example.com")
    # An isolated org is its own scope: the same email may exist there once.
    isolated = new_org(service, isolated=True)
    new_user(service, f"mixed.case+{tag}@example.com", isolated)
    with pytest.raises(psycopg.errors.UniqueViolation):
        new_user(service, f"Mixed.Case+{tag}@example.com", isolated)


def test_one_pending_invite_per_org_and_email(
    service: psycopg.Connection[tuple[object, ...]], seed: TwoOrgs
) -> None:
    email = f"invitee.{secrets.token_hex(3)}@example.com"
    insert = (
        "INSERT INTO tenantkit.invites (org_id, email, role, token_hash, expires_at) "
        "VALUES (%s, %s, 'Member', %s, now() + interval '1 day')"
    )
    service.execute(insert, (seed.a.org_id, email, secrets.token_bytes(32)))
    with pytest.raises(psycopg.errors.UniqueViolation):
        service.execute(insert, (seed.a.org_id, email.upper(), secrets.token_bytes(32)))
    service.execute(insert, (seed.b.org_id, email, secrets.token_bytes(32)))  # other org: fine
    # Once the first is no longer pending, a new one is allowed.
    service.execute(
        "UPDATE tenantkit.invites SET state = 'revoked' WHERE org_id = %s AND email = %s",
        (seed.a.org_id, email),
    )
    service.execute(insert, (seed.a.org_id, email, secrets.token_bytes(32)))


def test_expired_pending_invite_does_not_block_a_new_one(
    service: psycopg.Connection[tuple[object, ...]], seed: TwoOrgs
) -> None:
    email = f"late.{secrets.token_hex(3)}@example.com"
    service.execute(
        "INSERT INTO tenantkit.invites (org_id, email, role, token_hash, created_at, expires_at) "
        "VALUES (%s, %s, 'Member', %s, now() - interval '2 days', now() - interval '1 day')",
        (seed.a.org_id, email, secrets.token_bytes(32)),
    )
    service.execute(
        "INSERT INTO tenantkit.invites (org_id, email, role, token_hash, expires_at) "
        "VALUES (%s, %s, 'Member', %s, now() + interval '1 day')",
        (seed.a.org_id, email, secrets.token_bytes(32)),
    )
    states = service.execute(
        "SELECT state FROM tenantkit.invites WHERE org_id = %s AND email = %s ORDER BY created_at",
        (seed.a.org_id, email),
    ).fetchall()
    assert states == [("expired",), ("pending",)]


def test_unknown_role_is_refused(
    service: psycopg.Connection[tuple[object, ...]], seed: TwoOrgs
) -> None:
    user = new_user(service, f"r.{secrets.token_hex(3)}@example.com")
    with pytest.raises(psycopg.Error) as info:
        service.execute(
            "INSERT INTO tenantkit.memberships (org_id, user_id, role) "
            "VALUES (%s, %s, 'Superhero')",
            (seed.a.org_id, user),
        )
    assert info.value.sqlstate == "TK005"
    assert "Superhero" in str(info.value)


def test_max_users_holds_under_50_concurrent_adds(
    tenantkit_db: TestDatabase, service: psycopg.Connection[tuple[object, ...]]
) -> None:
    org = new_org(service, max_users=10)
    users = [new_user(service, f"c{i}.{secrets.token_hex(3)}@example.com") for i in range(50)]
    barrier = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def add(user_id: str) -> None:
        with psycopg.connect(tenantkit_db.conninfo("service")) as conn:
            barrier.wait()
            try:
                conn.execute(
                    "INSERT INTO tenantkit.memberships (org_id, user_id, role) "
                    "VALUES (%s, %s, 'Member')",
                    (org, user_id),
                )
                conn.commit()
                result = "added"
            except psycopg.Error as exc:
                result = f"{exc.sqlstate}: {exc.diag.message_primary}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=add, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("added") == 10
    refused = [o for o in outcomes if o != "added"]
    assert len(refused) == 40
    assert set(refused) == {"TK001: org has reached its max_users limit of 10"}
    count = service.execute(
        "SELECT count(*) FROM tenantkit.memberships WHERE org_id = %s", (org,)
    ).fetchone()
    assert count == (10,)


def test_reactivation_counts_against_max_users(
    service: psycopg.Connection[tuple[object, ...]],
) -> None:
    org = new_org(service, max_users=1)
    first, second = (new_user(service, f"m{i}.{secrets.token_hex(3)}@example.com") for i in (1, 2))
    add = (
        "INSERT INTO tenantkit.memberships (org_id, user_id, role, status) "
        "VALUES (%s, %s, 'Member', %s)"
    )
    service.execute(add, (org, first, "active"))
    service.execute(add, (org, second, "inactive"))  # inactive members do not count
    with pytest.raises(psycopg.Error) as info:
        service.execute(
            "UPDATE tenantkit.memberships SET status = 'active' WHERE org_id = %s AND user_id = %s",
            (org, second),
        )
    assert info.value.sqlstate == "TK001"


def test_domain_restrict(service: psycopg.Connection[tuple[object, ...]]) -> None:
    org = new_org(
        service, domain="Acme.example", extra_domains=["acme-labs.example"], domain_restrict=True
    )
    add = "INSERT INTO tenantkit.memberships (org_id, user_id, role) VALUES (%s, %s, 'Member')"
    tag = secrets.token_hex(3)
    service.execute(add, (org, new_user(service, f"a.{tag}@acme.example", confirmed=True)))
    service.execute(add, (org, new_user(service, f"b.{tag}@ACME-labs.example", confirmed=True)))
    with pytest.raises(psycopg.Error) as info:
        service.execute(add, (org, new_user(service, f"c.{tag}@evil.example", confirmed=True)))
    assert info.value.sqlstate == "TK002"
    # The right domain proves nothing while the email is unconfirmed.
    with pytest.raises(psycopg.Error) as info:
        service.execute(add, (org, new_user(service, f"d.{tag}@acme.example")))
    assert info.value.sqlstate == "TK002"
    assert "confirmed" in str(info.value)


def test_isolated_org_rules(service: psycopg.Connection[tuple[object, ...]], seed: TwoOrgs) -> None:
    isolated = new_org(service, isolated=True)
    add = "INSERT INTO tenantkit.memberships (org_id, user_id, role) VALUES (%s, %s, 'Member')"
    tag = secrets.token_hex(3)
    inside = new_user(service, f"in.{tag}@example.com", isolated)
    service.execute(add, (isolated, inside))
    with pytest.raises(psycopg.Error) as info:
        service.execute(add, (seed.a.org_id, inside))
    assert info.value.sqlstate == "TK003"
    outsider = new_user(service, f"out.{tag}@example.com")
    with pytest.raises(psycopg.Error) as info:
        service.execute(add, (isolated, outsider))
    assert info.value.sqlstate == "TK003"


def test_max_orgs_per_user(
    service: psycopg.Connection[tuple[object, ...]], owner_engine: sa.Engine
) -> None:
    with owner_engine.begin() as conn:
        conn.execute(sa.text("UPDATE tenantkit.settings SET max_orgs_per_user = 2"))
    try:
        user = new_user(service, f"busy.{secrets.token_hex(3)}@example.com")
        add = "INSERT INTO tenantkit.memberships (org_id, user_id, role) VALUES (%s, %s, 'Member')"
        service.execute(add, (new_org(service), user))
        service.execute(add, (new_org(service), user))
        with pytest.raises(psycopg.Error) as info:
            service.execute(add, (new_org(service), user))
        assert info.value.sqlstate == "TK004"
    finally:
        with owner_engine.begin() as conn:
            conn.execute(sa.text("UPDATE tenantkit.settings SET max_orgs_per_user = NULL"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE tenantkit.audit_log SET action = 'forged'",
        "DELETE FROM tenantkit.audit_log",
        "TRUNCATE tenantkit.audit_log",
    ],
)
def test_audit_log_is_append_only_even_for_the_owner(
    tenantkit_db: TestDatabase,
    seed: TwoOrgs,
    statement: str,
    superuser: psycopg.Connection[tuple[object, ...]],
) -> None:
    superuser.execute(
        "INSERT INTO tenantkit.audit_log (org_id, action) VALUES (%s, 'test.append')",
        (seed.a.org_id,),
    )
    before = superuser.execute("SELECT count(*), max(audit_id) FROM tenantkit.audit_log").fetchone()
    with (
        psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner,
        pytest.raises(psycopg.Error) as info,
    ):
        owner.execute(statement)
    assert info.value.sqlstate == "TK009"
    after = superuser.execute("SELECT count(*), max(audit_id) FROM tenantkit.audit_log").fetchone()
    assert after == before
