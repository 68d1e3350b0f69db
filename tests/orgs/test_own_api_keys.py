"""Org API keys made by end users: kind 'org' only, bound to no user, created by
themselves, carrying only permissions they hold; never un-archived; and the
app role never reads key hashes."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import psycopg
import pytest
from sqlalchemy import Engine

from tenantkit import Forbidden
from tenantkit.testing import TestDatabase, TwoOrgs

from ._attack import app_sql, app_sql_without, attempt, definition
from .conftest import ServiceFactory, UserFactory

Superuser = psycopg.Connection[tuple[object, ...]]

RAW_KEY = (
    "INSERT INTO tenantkit.api_keys (org_id, kind, name, secret_hash, prefix, permissions, "
    "created_by) VALUES (:org, :kind, 'k', :hash, 'tk_org_x', CAST(:perms AS text[]), :by)"
)
ADMIN_CAN = "tenantkit::can_invite"
OWNER_ONLY = "tenantkit::can_delete_org"


def key_params(org: str, by: str, *, kind: str = "org", perms: str = "{}") -> dict[str, object]:
    return {"org": org, "kind": kind, "hash": secrets.token_bytes(32), "perms": perms, "by": by}


def test_end_users_create_only_their_own_plain_org_keys(
    app_engine: Engine, as_user: UserFactory, fresh_orgs: TwoOrgs, superuser: Superuser,
) -> None:
    a, b = fresh_orgs.a, fresh_orgs.b
    with as_user(a.admin_id, a.org_id) as m:
        empty = m.api_keys.create(org_id=a.org_id, name="none")
        held = m.api_keys.create(org_id=a.org_id, name="held", permissions=[ADMIN_CAN])
    assert empty.api_key.permissions == [] and held.api_key.permissions == [ADMIN_CAN]
    stored = superuser.execute(
        "SELECT DISTINCT kind, user_id, created_by::text FROM tenantkit.api_keys "
        "WHERE api_key_id = ANY (%s)", ([empty.api_key.api_key_id, held.api_key.api_key_id],),
    ).fetchall()
    assert stored == [("org", None, a.admin_id)]
    refused = {
        "a permission the Admin lacks": {"permissions": [OWNER_ONLY]},
        "another kind": {"kind": "user", "user_id": a.member_id},
        "an integration key": {"kind": "integration", "org_id": None},
        "bound to a user": {"user_id": a.member_id},
        "another org": {"org_id": b.org_id},
    }
    for why, change in refused.items():
        args: dict[str, object] = {"org_id": a.org_id, "name": why, **change}
        with pytest.raises(Forbidden), as_user(a.admin_id, a.org_id) as m:
            m.api_keys.create(**args)  # type: ignore[arg-type]
    with app_sql(app_engine, a.admin_id, a.org_id) as conn:
        raw = {
            "lacking": attempt(conn, RAW_KEY, key_params(a.org_id, a.admin_id,
                                                        perms="{" + OWNER_ONLY + "}")),
            "user kind": attempt(conn, RAW_KEY, key_params(a.org_id, a.admin_id, kind="user")),
            "integration": attempt(conn, RAW_KEY.replace(":org", "NULL"),
                                   key_params(a.org_id, a.admin_id, kind="integration")),
            "someone else's": attempt(conn, RAW_KEY, key_params(a.org_id, a.owner_id)),
            "no creator": attempt(conn, RAW_KEY.replace(":by", "NULL"),
                                  key_params(a.org_id, a.admin_id)),
            "other org": attempt(conn, RAW_KEY, key_params(b.org_id, a.admin_id)),
            "user_id": attempt(conn, RAW_KEY.replace("created_by)", "created_by, user_id)")
                               .replace(":by)", ":by, :by)"), key_params(a.org_id, a.admin_id)),
        }
        fine = attempt(conn, RAW_KEY, key_params(a.org_id, a.admin_id, perms="{" + ADMIN_CAN + "}"))
    assert {why: o.sqlstate for why, o in raw.items()} == dict.fromkeys(raw, "42501")
    assert fine.ok
    with as_user(a.owner_id, a.org_id) as m:  # the Owner holds it, so may give it
        assert m.api_keys.create(org_id=a.org_id, permissions=[OWNER_ONLY]).secret


def test_archived_keys_stay_archived_and_hashes_stay_unread(
    app_engine: Engine, as_user: UserFactory, fresh_orgs: TwoOrgs, service: ServiceFactory,
    superuser: Superuser,
) -> None:
    a = fresh_orgs.a
    with as_user(a.admin_id, a.org_id) as m:
        key = m.api_keys.create(org_id=a.org_id, name="old")
        m.api_keys.archive(key.api_key.api_key_id)
    key_id = key.api_key.api_key_id
    with app_sql(app_engine, a.admin_id, a.org_id) as conn:
        unarchive = attempt(conn, "UPDATE tenantkit.api_keys SET archived_at = NULL "
                                  "WHERE api_key_id = :k", {"k": key_id})
        rename = attempt(conn, "UPDATE tenantkit.api_keys SET name = 'new' "
                               "WHERE api_key_id = :k", {"k": key_id})
        stamp = attempt(conn, "UPDATE tenantkit.api_keys SET last_used_at = now()")
        hashes = attempt(conn, "SELECT secret_hash FROM tenantkit.api_keys")
        probe = attempt(conn, "SELECT api_key_id FROM tenantkit.api_keys "
                              "WHERE secret_hash = sha256('x')")
        listed = attempt(conn, "SELECT api_key_id::text, archived_at IS NOT NULL "
                               "FROM tenantkit.api_keys")
    assert (unarchive.ok, unarchive.rowcount) == (rename.ok, rename.rowcount) == (True, 0)
    assert stamp.refusal == hashes.refusal == probe.refusal == (
        "42501", "permission denied for table api_keys")
    assert listed.rows == [(key_id, True)]
    with as_user(a.admin_id, a.org_id) as m:
        assert m.api_keys.list(org_id=a.org_id, archived=True).items[0].api_key_id == key_id
        with pytest.raises(Forbidden):  # validation reads hashes: backend work
            m.api_keys.validate(key.secret)
    row = superuser.execute("SELECT archived_at IS NOT NULL, name FROM tenantkit.api_keys "
                            "WHERE api_key_id = %s", (key_id,)).fetchone()
    assert row == (True, "old")


def test_with_the_old_policy_an_admin_binds_a_key_to_another_user(
    tenantkit_db: TestDatabase, fresh_orgs: TwoOrgs, unique: Callable[[str], str],
) -> None:
    a = fresh_orgs.a
    user_key = RAW_KEY.replace("created_by)", "created_by, user_id)").replace(
        ":by)", ":by, :owner)")
    params = {**key_params(a.org_id, a.admin_id, kind="user", perms="{" + OWNER_ONLY + "}"),
              "owner": a.owner_id}
    with app_sql_without(tenantkit_db, a.admin_id, a.org_id) as conn:
        assert attempt(conn, user_key, params).sqlstate == "42501"
    old = [
        "DROP POLICY member_insert ON tenantkit.api_keys",
        definition("0001_policies.sql", "CREATE POLICY member_all ON tenantkit.api_keys"),
        "GRANT INSERT (user_id) ON tenantkit.api_keys TO @app_role@",
    ]
    with app_sql_without(tenantkit_db, a.admin_id, a.org_id, *old) as conn:
        # a user key in the Owner's name, with a permission the Admin does not hold
        assert attempt(conn, user_key, params).ok
