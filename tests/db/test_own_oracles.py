"""EXPLAIN ANALYZE cannot tell whether a value exists in another org's rows of
tenantkit's own tables.

An index that is not led by org_id finds another org's row before the policy
removes it, and the plan shows it ("Rows Removed by Filter: 1", an index
node's actual rows, the buffers it read). The app role therefore cannot name
the columns of such indexes (users, orgs but org_id, invites.created_at and
token_hash, api_keys.secret_hash, audit_log.audit_id) and reads the bound
org's rows through SECURITY DEFINER functions, whose inner plans EXPLAIN does
not show.

Each probe runs as A's Owner for a value that exists only in org B and for one
that exists nowhere, under several planner settings an attacker may choose;
the two EXPLAIN (ANALYZE, BUFFERS) outputs, or errors, must be identical once
timings are masked. Every EXPLAIN runs on a fresh connection, so the plan
cache and catalog caches are in the same state for both values.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import sqlalchemy as sa

from tenantkit.orgs import Management
from tenantkit.testing import TestDatabase, TwoOrgs, seed_two_orgs
from tests.doctor.helpers import bind

#: Planner settings an attacker may SET, chosen to push the planner onto each index kind.
SETTINGS: list[dict[str, str]] = [
    {},
    {"enable_seqscan": "off"},
    {"enable_seqscan": "off", "enable_bitmapscan": "off"},
    {"enable_seqscan": "off", "enable_indexscan": "off"},
    {"enable_seqscan": "off", "enable_indexscan": "off", "enable_bitmapscan": "off"},
    {"enable_indexscan": "off", "enable_bitmapscan": "off", "enable_indexonlyscan": "off"},
    {"enable_seqscan": "off", "random_page_cost": "0.001", "cpu_index_tuple_cost": "0"},
    {"seq_page_cost": "1000", "cpu_tuple_cost": "10", "enable_sort": "off"},
]


@dataclass(frozen=True)
class Victim:
    """Values that exist only in org B (the attacker is A's Owner)."""

    orgs: TwoOrgs
    email: str
    username: str
    legacy_user_id: str
    user_created_at: str
    user_created_later: str  # right after it, when nothing was created
    domain: str
    legacy_org_id: str
    external_id: str
    org_name: str
    invite_email: str
    invite_created_at: str
    invite_created_later: str
    token_hash: str
    key_name: str
    secret_hash: str
    audit_id: str
    audit_target: str
    flag: str
    tombstone: str


@pytest.fixture(scope="module")
def victim(tenantkit_db: TestDatabase) -> Victim:
    """Two fresh orgs; B gets one of everything, plus bulk so indexes look worth using."""
    tag = secrets.token_hex(4)
    service = sa.create_engine(tenantkit_db.url("service"), poolclass=sa.NullPool)
    with service.begin() as conn:
        orgs = seed_two_orgs(conn)
        m = Management(conn)
        b = orgs.b.org_id
        user = m.users.create(f"victim.{tag}@corp-{tag}.example", username=f"victim{tag}",
                              legacy_user_id=f"legacy-{tag}", autojoin=False)
        m.members.add(b, user.user_id, "Member")
        m.orgs.update(b, domain=f"corp-{tag}.example", legacy_org_id=f"legacy-org-{tag}",
                      external_id=f"ext-{tag}", name=f"Victim Corp {tag}")
        invite = m.invites.create(b, email=f"invitee.{tag}@example.com", role="Member")
        key = m.api_keys.create(org_id=b, name=f"key-{tag}")
        m.feature_flags.set(b, f"flag-{tag}")
        doomed = m.orgs.create(f"doomed {tag}").org_id
        m.orgs.delete(doomed)
        for i in range(300):  # other orgs' bulk: an index beats a scan
            m.users.create(f"bulk{i}.{tag}@bulk.example", autojoin=False)
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as admin:
        def one(sql: str, *params: object) -> str:
            row = admin.execute(sql, params).fetchone()
            assert row is not None
            return str(row[0])

        victim = Victim(
            orgs=orgs,
            email=user.email,
            username=user.username or "",
            legacy_user_id=f"legacy-{tag}",
            user_created_at=one("SELECT created_at::text FROM tenantkit.users "
                                "WHERE user_id = %s", user.user_id),
            user_created_later=one("SELECT (created_at + interval '1 microsecond')::text "
                                   "FROM tenantkit.users WHERE user_id = %s", user.user_id),
            domain=f"corp-{tag}.example",
            legacy_org_id=f"legacy-org-{tag}",
            external_id=f"ext-{tag}",
            org_name=f"Victim Corp {tag}",
            invite_email=invite.invite.email,
            invite_created_at=one("SELECT created_at::text FROM tenantkit.invites "
                                  "WHERE invite_id = %s", invite.invite.invite_id),
            invite_created_later=one("SELECT (created_at + interval '1 microsecond')::text "
                                     "FROM tenantkit.invites WHERE invite_id = %s",
                                     invite.invite.invite_id),
            token_hash=one("SELECT encode(token_hash, 'hex') FROM tenantkit.invites "
                           "WHERE invite_id = %s", invite.invite.invite_id),
            key_name=key.api_key.name,
            secret_hash=one("SELECT encode(secret_hash, 'hex') FROM tenantkit.api_keys "
                            "WHERE api_key_id = %s", key.api_key.api_key_id),
            audit_id=one("SELECT max(audit_id) FROM tenantkit.audit_log WHERE org_id = %s", b),
            audit_target=key.api_key.api_key_id,
            flag=f"flag-{tag}",
            tombstone=doomed,
        )
        for table in ("users", "orgs", "memberships", "invites", "api_keys", "audit_log",
                      "feature_flags"):
            admin.execute(f"ANALYZE tenantkit.{table}")
    service.dispose()
    return victim


def probes(v: Victim) -> Iterator[tuple[str, str, str]]:
    """(query with {v}, a value only B has, a value nobody has)."""
    nobody = f"nobody.{secrets.token_hex(4)}"
    b = v.orgs.b
    # users: every index lacks org_id; the app role may not name the table at all
    yield "SELECT * FROM tenantkit.users WHERE email = '{v}'", v.email, f"{nobody}@x.example"
    yield ("SELECT user_id FROM tenantkit.users WHERE COALESCE(isolated_org_id, "
           "'00000000-0000-0000-0000-000000000000') = '00000000-0000-0000-0000-000000000000' "
           "AND lower(username) = '{v}'"), v.username, nobody
    yield "SELECT user_id FROM tenantkit.users WHERE email LIKE '{v}%'", v.email[:12], nobody
    yield ("SELECT user_id FROM tenantkit.users WHERE legacy_user_id = '{v}'",
           v.legacy_user_id, nobody)
    yield "SELECT 1 FROM tenantkit.users WHERE user_id = '{v}'", b.member_id, str(uuid.uuid4())
    yield ("SELECT 1 FROM tenantkit.users WHERE created_at = '{v}'", v.user_created_at,
           v.user_created_later)
    # ... and through its function: the bound org's members, whatever the filter
    yield ("SELECT * FROM tenantkit.current_org_users() WHERE email = '{v}'", v.email,
           f"{nobody}@x.example")
    yield ("SELECT * FROM tenantkit.current_org_users(ARRAY['{v}']::uuid[])", b.member_id,
           str(uuid.uuid4()))
    # orgs: only org_id is readable (orgs_pkey holds the policy as an index condition)
    yield "SELECT org_id FROM tenantkit.orgs WHERE domain = '{v}'", v.domain, f"{nobody}.example"
    yield ("SELECT org_id FROM tenantkit.orgs WHERE legacy_org_id = '{v}'", v.legacy_org_id,
           nobody)
    yield "SELECT org_id FROM tenantkit.orgs WHERE external_id = '{v}'", v.external_id, nobody
    yield "SELECT org_id FROM tenantkit.orgs WHERE name = '{v}'", v.org_name, nobody
    yield "SELECT org_id FROM tenantkit.orgs WHERE org_id = '{v}'", b.org_id, str(uuid.uuid4())
    yield ("SELECT org_id FROM tenantkit.orgs WHERE org_id = '{v}'", v.tombstone,
           str(uuid.uuid4()))
    yield ("SELECT * FROM tenantkit.current_org() WHERE domain = '{v}'", v.domain,
           f"{nobody}.example")
    # memberships: every index holds org_id, so the policy is an index condition
    yield ("SELECT org_id FROM tenantkit.memberships WHERE user_id = '{v}'", b.member_id,
           str(uuid.uuid4()))
    # invites: created_at (invites_pending_created) and the token hash are unreadable
    yield ("SELECT email FROM tenantkit.invites WHERE created_at = '{v}'", v.invite_created_at,
           v.invite_created_later)
    yield ("SELECT email FROM tenantkit.invites WHERE token_hash = '\\x{v}'", v.token_hash,
           secrets.token_hex(32))
    yield "SELECT state FROM tenantkit.invites WHERE email = '{v}'", v.invite_email, nobody
    yield ("SELECT * FROM tenantkit.current_org_invites() WHERE email = '{v}'", v.invite_email,
           nobody)
    # api keys: the hash is unreadable
    yield ("SELECT name FROM tenantkit.api_keys WHERE secret_hash = '\\x{v}'", v.secret_hash,
           secrets.token_hex(32))
    yield "SELECT api_key_id FROM tenantkit.api_keys WHERE name = '{v}'", v.key_name, nobody
    # the audit log: audit_id is unreadable; the rest has no index but audit_log_org
    yield ("SELECT action FROM tenantkit.audit_log WHERE audit_id = '{v}'", v.audit_id,
           "987654321")
    yield ("SELECT action FROM tenantkit.audit_log WHERE target_id = '{v}'", v.audit_target,
           str(uuid.uuid4()))
    yield ("SELECT * FROM tenantkit.current_org_audit_log('{org}', '{v}', 0, 10)"
           .replace("{org}", v.orgs.a.org_id), "api_key.created", "nothing.happened")
    yield "SELECT enabled FROM tenantkit.feature_flags WHERE name = '{v}'", v.flag, nobody
    yield ("SELECT 1 FROM tenantkit.org_tombstones WHERE org_id = '{v}'", v.tombstone,
           str(uuid.uuid4()))


def mask(plan: str, value: str) -> str:
    """The plan with the probed value and timings blanked, and buffer counts summed.

    Hit or read, dirtied or written depend on what ran before (hint bits, the
    cache), not on the value; how many buffers a node touched does not.
    """
    plan = re.sub(r"(?<=['{,])(\\x)?" + re.escape(value), "<value>", plan)
    plan = re.sub(r"actual time=[\d.]+\.\.[\d.]+", "actual time=<t>", plan)
    plan = re.sub(r"[\d.]+ ms\b", "<t> ms", plan)
    plan = re.sub(r"\n *I/O Timings:[^\n]*", "", plan)

    def total(match: re.Match[str]) -> str:
        counts = [int(n) for n in re.findall(r"(?:hit|read)=(\d+)", match.group(0))]
        return f"shared={sum(counts)}"

    plan = re.sub(r"shared(?: (?:hit|read|dirtied|written)=\d+)+", total, plan)
    return re.sub(r"\d+kB", "NkB", plan)


def explain(db: TestDatabase, user_id: str, org_id: str, query: str, settings: dict[str, str],
            *, protection_off: tuple[str, ...] = ()) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of `query` on a fresh app-role connection, or its error.

    `protection_off`: DDL a superuser runs first, in the same (rolled back) transaction.
    """
    role = "admin" if protection_off else "app"
    with psycopg.connect(db.conninfo(role)) as conn:
        for ddl in protection_off:
            conn.execute(ddl.replace("@app_role@", f'"{db.roles.app}"'))
        if protection_off:
            conn.execute(f'SET LOCAL ROLE "{db.roles.app}"')
        bind(conn, org_id, user_id)  # tenantkit's bind statement, signed like the engine's
        for name, value in settings.items():
            conn.execute(f"SET LOCAL {name} = {value}")
        try:
            rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + query).fetchall()
        except psycopg.Error as exc:
            return f"ERROR {exc.sqlstate}: {exc.diag.message_primary}"
        finally:
            conn.rollback()
        return "\n".join(str(r[0]) for r in rows)


def differences(db: TestDatabase, attacker: tuple[str, str], query: str, present: str,
                absent: str, protection_off: tuple[str, ...] = ()) -> list[str]:
    """The planner settings under which the two values' outputs differ, with both outputs.

    A catalog change (an ANALYZE, autovacuum's too) makes the next new backend
    rebuild its relation cache, which shows as a few extra buffers once. So a
    difference counts only if it is there on three tries: an oracle is.
    """
    found = []
    for settings in SETTINGS:
        for _try in range(3):
            outputs = [mask(explain(db, *attacker, query.replace("{v}", value), settings,
                                    protection_off=protection_off), value)
                       for value in (present, absent)]
            if outputs[0] == outputs[1]:
                break
        else:
            found.append(f"{settings}:\n{outputs[0]}\n--- versus ---\n{outputs[1]}")
    return found


def test_explain_analyze_tells_nothing_about_other_orgs_values(
    tenantkit_db: TestDatabase, victim: Victim,
) -> None:
    a = victim.orgs.a
    leaks = {}
    for query, present, absent in probes(victim):
        found = differences(tenantkit_db, (a.owner_id, a.org_id), query, present, absent)
        if found:
            leaks[query] = found[0]
    assert leaks == {}, "\n\n".join(f"{q}\n{d}" for q, d in leaks.items())


def test_the_readable_paths_do_read_rows(tenantkit_db: TestDatabase, victim: Victim) -> None:
    """The functions and readable columns the probes use answer for the bound org."""
    a = victim.orgs.a
    plan = explain(tenantkit_db, a.owner_id, a.org_id,
                   "SELECT * FROM tenantkit.current_org_users()", {})
    assert "Function Scan on current_org_users" in plan
    assert re.search(r"actual time=\S+ rows=4(\.00)? ", plan), plan
    plan = explain(tenantkit_db, a.owner_id, a.org_id,
                   f"SELECT org_id FROM tenantkit.orgs WHERE org_id = '{a.org_id}'", {})
    assert re.search(r"actual time=\S+ rows=1(\.00)? ", plan), plan


@pytest.mark.parametrize(("grant", "query", "which", "nobody"), [
    ("GRANT SELECT ON tenantkit.users TO @app_role@",
     "SELECT * FROM tenantkit.users WHERE email = '{v}'", "email", "nobody@x.example"),
    ("GRANT SELECT (domain) ON tenantkit.orgs TO @app_role@",
     "SELECT org_id FROM tenantkit.orgs WHERE domain = '{v}'", "domain", "nobody.example"),
    ("GRANT SELECT (created_at) ON tenantkit.invites TO @app_role@",
     "SELECT org_id FROM tenantkit.invites WHERE state = 'pending' AND created_at = '{v}'",
     "invite_created_at", None),
    ("GRANT SELECT (audit_id) ON tenantkit.audit_log TO @app_role@",
     "SELECT action FROM tenantkit.audit_log WHERE audit_id = '{v}'", "audit_id", "987654321"),
])
def test_with_the_old_grants_the_probe_sees_the_other_org(
    tenantkit_db: TestDatabase, victim: Victim, grant: str, query: str, which: str,
    nobody: str | None,
) -> None:
    """The protection off: with the 0002 privilege back, the same probe leaks."""
    a = victim.orgs.a
    present = str(getattr(victim, which))
    absent = nobody or victim.invite_created_later
    assert differences(tenantkit_db, (a.owner_id, a.org_id), query, present, absent,
                       protection_off=(grant,))
