"""End users edit their org's domain rules and 2FA deadline, and take verified domains
off it, through the database's doors (0011): each checks its own rule.

- domain_autojoin, domain_restrict, removing a domain: `tenantkit::can_update_org`;
- require_2fa_by: the org's top role only (PropelAuth: "only org owners");
- another org: 404; nothing half-written when one part of a change is refused;
- the app role still holds no UPDATE on these columns (so the doors are the only way),
  and no door adds a domain.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tenantkit import Forbidden, InvalidField, NotFound, TenantContext, tenant_context
from tenantkit.orgs import Management, Role
from tenantkit.sqlfiles import render_sql
from tenantkit.testing import TestDatabase, TwoOrgs

from .conftest import Headers

Superuser = psycopg.Connection[tuple[object, ...]]
DEADLINE = 1_900_000_000


@pytest.fixture
def orgs(make_seed: Callable[[], TwoOrgs]) -> TwoOrgs:
    return make_seed()


def org_row(superuser: Superuser, org_id: str) -> tuple[object, ...]:
    row = superuser.execute(
        "SELECT name, domain_autojoin, domain_restrict, require_2fa_by, domain, extra_domains "
        "FROM tenantkit.orgs WHERE org_id = %s", (org_id,)).fetchone()
    assert row is not None
    return row


def refused(response: object, status: int, match: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] and re.search(match, body["message"]), body


# --- over HTTP ------------------------------------------------------------------------


def test_domain_rules_need_can_update_org(
    api: TestClient, auth: Headers, orgs: TwoOrgs, superuser: Superuser
) -> None:
    a, b = orgs.a, orgs.b
    # restricting to no domain at all is the database's no (a check constraint)
    refused(api.patch(f"/orgs/{a.org_id}", json={"domain_restrict": True},
                      headers=auth(a.admin_id)), 400)
    superuser.execute("UPDATE tenantkit.orgs SET domain = 'a.example' WHERE org_id = %s",
                      (a.org_id,))
    ok = api.patch(f"/orgs/{a.org_id}", json={"domain_autojoin": True, "domain_restrict": True},
                   headers=auth(a.admin_id))
    assert ok.status_code == 200, ok.text
    assert ok.json()["domain_autojoin"] is True and ok.json()["domain_restrict"] is True
    refused(api.patch(f"/orgs/{a.org_id}", json={"domain_autojoin": False},
                      headers=auth(a.member_id)), 403, "can_update_org")
    # the shared user is Admin in B but only Member in A: the bound org's role counts
    refused(api.patch(f"/orgs/{a.org_id}", json={"domain_restrict": False},
                      headers=auth(orgs.shared_user_id)), 403)
    refused(api.patch(f"/orgs/{a.org_id}", json={"domain_autojoin": False},
                      headers=auth(b.owner_id)), 404)
    assert org_row(superuser, a.org_id)[1:3] == (True, True)
    assert org_row(superuser, b.org_id)[1:3] == (False, False)  # B untouched throughout
    off = api.patch(f"/orgs/{a.org_id}", json={"domain_autojoin": False},
                    headers=auth(a.owner_id))
    assert off.json()["domain_autojoin"] is False and off.json()["domain_restrict"] is True


def test_require_2fa_by_is_the_top_roles_alone(
    api: TestClient, auth: Headers, orgs: TwoOrgs, superuser: Superuser
) -> None:
    a, b = orgs.a, orgs.b
    for who in (a.admin_id, a.member_id):
        refused(api.patch(f"/orgs/{a.org_id}", json={"require_2fa_by": DEADLINE},
                          headers=auth(who)), 403, "top role")
    refused(api.patch(f"/orgs/{a.org_id}", json={"require_2fa_by": DEADLINE},
                      headers=auth(b.owner_id)), 404)
    assert org_row(superuser, a.org_id)[3] is None
    ok = api.patch(f"/orgs/{a.org_id}", json={"require_2fa_by": DEADLINE},
                   headers=auth(a.owner_id))
    assert ok.status_code == 200 and ok.json()["require_2fa_by"] == DEADLINE
    assert org_row(superuser, a.org_id)[3] == datetime.fromtimestamp(DEADLINE, UTC)
    cleared = api.patch(f"/orgs/{a.org_id}", json={"require_2fa_by": None},
                        headers=auth(a.owner_id))
    assert cleared.status_code == 200 and cleared.json()["require_2fa_by"] is None
    assert org_row(superuser, b.org_id)[3] is None
    audit = superuser.execute(
        "SELECT actor_kind, actor_user_id::text, metadata FROM tenantkit.audit_log "
        "WHERE org_id = %s AND action = 'org.updated' ORDER BY audit_id", (a.org_id,)).fetchall()
    assert audit[-1] == ("user", a.owner_id, {"changed": ["require_2fa_by"]})


def test_a_refused_part_writes_nothing(
    api: TestClient, auth: Headers, orgs: TwoOrgs, superuser: Superuser
) -> None:
    a = orgs.a
    before = org_row(superuser, a.org_id)
    # the Admin may rename and toggle auto-join, but not set the 2FA deadline
    refused(api.patch(f"/orgs/{a.org_id}", json={
        "name": "Half", "domain_autojoin": True, "require_2fa_by": DEADLINE},
        headers=auth(a.admin_id)), 403)
    assert org_row(superuser, a.org_id) == before


def test_bad_values_are_400(api: TestClient, auth: Headers, orgs: TwoOrgs) -> None:
    a = orgs.a
    for body, field in (({"domain_autojoin": "yes"}, "domain_autojoin"),
                        ({"require_2fa_by": "soon"}, "require_2fa_by"),
                        ({"domain": "evil.example"}, "domain"),
                        ({"extra_domains": ["gmail.com"]}, "extra_domains")):
        got = api.patch(f"/orgs/{a.org_id}", json=body, headers=auth(a.owner_id))
        assert got.status_code == 400 and field in got.json()["fields"], got.text


# --- the doors, on the app role's own connection ------------------------------------------


@contextmanager
def bound(app_engine: Engine, user_id: str, org_id: str) -> Iterator[Management]:
    """`Management` on the app role, bound to `user_id` in `org_id` (`.conn` for raw SQL)."""
    with tenant_context(TenantContext(user_id, org_id)), app_engine.begin() as conn:
        yield Management(conn)


def test_the_app_role_still_cannot_update_these_columns(
    app_engine: Engine, orgs: TwoOrgs, superuser: Superuser
) -> None:
    a = orgs.a
    for column, value in (("domain_autojoin", "true"), ("domain_restrict", "true"),
                          ("require_2fa_by", "now()"), ("domain", "'gmail.com'"),
                          ("extra_domains", "ARRAY['gmail.com']"), ("max_users", "1000")):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), \
                bound(app_engine, a.owner_id, a.org_id) as m:
            m.conn.execute(sa.text(
                f"UPDATE tenantkit.orgs SET {column} = {value} WHERE org_id = :o"),
                {"o": a.org_id})
    # through the service: the doors' fields pass, the others are the database's no
    with bound(app_engine, a.owner_id, a.org_id) as m:
        m.orgs.update(a.org_id, domain_autojoin=True)
    for field, value in (("max_users", 1000), ("domain", "gmail.com"),
                         ("extra_domains", ["gmail.com"]), ("can_setup_saml", True)):
        with pytest.raises(Forbidden), bound(app_engine, a.owner_id, a.org_id) as m:
            m.orgs.update(a.org_id, **{field: value})
    assert org_row(superuser, a.org_id)[4:] == (None, [])


def test_the_doors_answer_for_the_bound_org_only(
    app_engine: Engine, orgs: TwoOrgs, superuser: Superuser
) -> None:
    a, b = orgs.a, orgs.b
    door = "SELECT tenantkit.update_current_org_settings(:o, CAST(:c AS jsonb))"
    change = '{"domain_autojoin": true}'
    # B's id while bound to A (where the caller is Owner): not found, B unchanged
    with pytest.raises(sa.exc.DBAPIError, match="org not found"), \
            bound(app_engine, a.owner_id, a.org_id) as m:
        m.conn.execute(sa.text(door), {"o": b.org_id, "c": change})
    # bound to B, where the caller is no member: not found either
    with pytest.raises(sa.exc.DBAPIError, match="org not found"), \
            bound(app_engine, a.owner_id, b.org_id) as m:
        m.conn.execute(sa.text(door), {"o": b.org_id, "c": change})
    # no binding at all
    with app_engine.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="org not found"):
        conn.execute(sa.text(door), {"o": b.org_id, "c": change})
    # an unknown key is refused, not ignored: a door changes its own columns only
    with pytest.raises(InvalidField, match="max_users"), \
            bound(app_engine, a.owner_id, a.org_id) as m:
        m.orgs._update_settings(a.org_id, {"max_users": 5})
    remove = "SELECT tenantkit.remove_current_org_domain(:o, :d)"
    superuser.execute("UPDATE tenantkit.orgs SET domain = 'b.example' WHERE org_id = %s",
                      (b.org_id,))
    with pytest.raises(sa.exc.DBAPIError, match="org not found"), \
            bound(app_engine, a.owner_id, a.org_id) as m:
        m.conn.execute(sa.text(remove), {"o": b.org_id, "d": "b.example"})
    assert org_row(superuser, b.org_id)[1:] == (False, False, None, "b.example", [])


def test_removing_domains(app_engine: Engine, orgs: TwoOrgs, superuser: Superuser) -> None:
    a = orgs.a
    superuser.execute("UPDATE tenantkit.orgs SET domain = 'a.example', extra_domains = "
                      "ARRAY['x.example'], domain_restrict = true WHERE org_id = %s",
                      (a.org_id,))
    with pytest.raises(Forbidden, match="can_update_org"), \
            bound(app_engine, a.member_id, a.org_id) as m:
        m.domains.remove(a.org_id, "x.example")
    with pytest.raises(InvalidField, match="domain_restrict"), \
            bound(app_engine, a.admin_id, a.org_id) as m:
        m.domains.remove(a.org_id, "a.example")
    with pytest.raises(NotFound), bound(app_engine, a.admin_id, a.org_id) as m:
        m.domains.remove(a.org_id, "never.example")
    with bound(app_engine, a.admin_id, a.org_id) as m:
        assert m.domains.remove(a.org_id, "x.example").extra_domains == []
        m.domains.set_rules(a.org_id, restrict=False)
        assert m.domains.remove(a.org_id, "a.example").domain is None
    assert org_row(superuser, a.org_id)[4:] == (None, [])


@pytest.mark.parametrize("rule", ["protected", "exposed"])
def test_the_top_role_check_is_what_stops_an_admin(
    rule: str, app_engine: Engine, orgs: TwoOrgs, superuser: Superuser,
    tenantkit_db: TestDatabase,
) -> None:
    """With the door's top-role check taken out, the same Admin's call succeeds."""
    a = orgs.a
    sql = render_sql("0011_self_service_settings.sql", tenantkit_db.roles)
    start = sql.index("CREATE FUNCTION tenantkit.update_current_org_settings")
    original = sql[start:sql.index("$$;", start) + 3].replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    check = "IF v_top IS NULL OR NOT tenantkit.has_min_role(v_top) THEN"
    assert check in original
    if rule == "exposed":
        superuser.execute(original.replace(check, "IF false THEN"))
    try:
        with bound(app_engine, a.admin_id, a.org_id) as m:
            if rule == "protected":
                with pytest.raises(Forbidden, match="top role"):
                    m.orgs.update(a.org_id, require_2fa_by=datetime.now(UTC))
            else:
                m.orgs.update(a.org_id, require_2fa_by=datetime.now(UTC))
    finally:
        superuser.execute(original)
    assert (org_row(superuser, a.org_id)[3] is None) == (rule == "protected")


def test_a_custom_mapping_top_role(
    api: TestClient, auth: Headers, orgs: TwoOrgs, service_engine: Engine,
) -> None:
    """The top role is the mapping's rank 1, whatever it is called."""
    a = orgs.a
    name = f"Crew {uuid.uuid4().hex[:6]}"
    with service_engine.begin() as conn:
        m = Management(conn)
        m.role_mappings.create(name, [Role("Captain", 1, ("tenantkit::can_update_org",)),
                                      Role("Owner", 2, ("tenantkit::can_update_org",)),
                                      "Admin", "Member"])
        m.orgs.update(a.org_id, custom_role_mapping_name=name)
    refused(api.patch(f"/orgs/{a.org_id}", json={"require_2fa_by": DEADLINE},
                      headers=auth(a.owner_id)), 403, r"top role \(Captain\)")
    with service_engine.begin() as conn:
        Management(conn).members.change_role(a.org_id, a.owner_id, "Captain")
    ok = api.patch(f"/orgs/{a.org_id}", json={"require_2fa_by": DEADLINE},
                   headers=auth(a.owner_id))
    assert ok.status_code == 200, ok.text
