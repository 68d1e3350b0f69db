"""Orgs through the service: create, fetch, query, update, delete, and their errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest

from tenantkit import Conflict, Forbidden, InvalidField, NotFound
from tenantkit.orgs import PageRequest
from tenantkit.testing import TwoOrgs

from .conftest import ServiceFactory, audit_rows

UUID_V4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_create_and_fetch_every_way(
    service: ServiceFactory, unique: Callable[[str], str], superuser: psycopg.Connection
) -> None:
    legacy, external = unique("legacy"), unique("ext")
    with service() as m:
        org = m.orgs.create(
            "Acme, Inc.", domain="Acme.com", enable_auto_joining_by_domain=True,
            members_must_have_matching_domain=True, max_users=5,
            custom_role_mapping_name="Default", legacy_org_id=legacy, external_id=external,
            metadata={"plan": "pro"},
        )
    import re

    assert re.fullmatch(UUID_V4, org.org_id)
    assert (org.name, org.url_safe_org_name, org.domain) == ("Acme, Inc.", "acme-inc", "acme.com")
    assert org.domain_autojoin and org.domain_restrict and org.max_users == 5
    with service() as m:
        assert m.orgs.fetch(org.org_id) == org
        assert m.orgs.fetch_by_external_id(external) == org
        assert m.orgs.fetch_by_legacy_org_id(legacy) == org
    [(kind, actor, target_type, target_id, meta)] = audit_rows(superuser, org.org_id, "org.created")
    assert (kind, actor, target_type, target_id) == ("service", None, "org", org.org_id)
    assert meta["max_users"] == 5  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "max_users": 0}, "max_users"),
        ({"name": "ok", "domain": "not a domain"}, "domain"),
        ({"name": "ok", "members_must_have_matching_domain": True}, "domain"),
        ({"name": "ok", "custom_role_mapping_name": "no-such-mapping"}, "custom_role_mapping_name"),
        ({"name": "ok", "org_id": "nope"}, "org_id"),
    ],
)
def test_create_names_the_bad_field(
    service: ServiceFactory, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidField) as caught, service() as m:
        m.orgs.create(**kwargs)  # type: ignore[arg-type]
    assert field in caught.value.fields


def test_duplicate_external_id_conflicts(
    service: ServiceFactory, unique: Callable[[str], str]
) -> None:
    external = unique("ext")
    with service() as m:
        m.orgs.create("First", external_id=external)
    with pytest.raises(Conflict), service() as m:
        m.orgs.create("Second", external_id=external)


def test_fetch_missing_and_malformed(service: ServiceFactory) -> None:
    with service() as m:
        with pytest.raises(NotFound):
            m.orgs.fetch("00000000-0000-4000-8000-000000000000")
        with pytest.raises(NotFound):
            m.orgs.fetch_by_external_id("never-used")
        with pytest.raises(InvalidField) as caught:
            m.orgs.fetch("ORG-1")
        assert caught.value.fields == {"org_id": "must be a UUID"}


def test_query_orders_filters_and_pages(
    service: ServiceFactory, unique: Callable[[str], str]
) -> None:
    tag = unique("q")
    made = []
    for i, name in enumerate(["delta", "alpha", "charlie", "bravo", "echo"]):
        with service() as m:  # one transaction each: created_at is the transaction's start
            made.append(m.orgs.create(f"{tag} {name}", legacy_org_id=f"{tag}-{i}",
                                      domain=f"{tag}.example" if i == 0 else None))
    with service() as m:
        by_name = m.orgs.query(name=tag.upper(), order_by="NAME", page=PageRequest(2, 0))
        assert [o.name.split()[-1] for o in by_name.items] == ["alpha", "bravo"]
        assert (by_name.total, by_name.has_more) == (5, True)
        last = m.orgs.query(name=tag, order_by="NAME", page=PageRequest(2, 2))
        assert [o.name.split()[-1] for o in last.items] == ["echo"]
        assert not last.has_more
        beyond = m.orgs.query(name=tag, page=PageRequest(2, 9))
        assert (beyond.items, beyond.total) == ([], 5)
        asc = m.orgs.query(name=tag, order_by="CREATED_AT_ASC", page=PageRequest(100, 0))
        desc = m.orgs.query(name=tag, order_by="CREATED_AT_DESC", page=PageRequest(100, 0))
        assert [o.org_id for o in asc.items] == [o.org_id for o in made]
        assert [o.org_id for o in desc.items] == [o.org_id for o in reversed(made)]
        # pages of every size tile the whole list without gaps or repeats
        for size in (1, 2, 3):
            paged = [o.org_id for n in range(6)
                     for o in m.orgs.query(name=tag, page=PageRequest(size, n)).items]
            assert paged == [o.org_id for o in made]
        assert [o.org_id for o in m.orgs.query(domain=f"{tag}.example").items] == [made[0].org_id]
        assert [o.org_id for o in m.orgs.query(legacy_org_id=f"{tag}-3").items] == [made[3].org_id]
        assert m.orgs.query(name="%").total >= 0  # a pattern character is matched literally
        assert m.orgs.query(name=f"{tag}%").total == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"page": None, "order_by": "SIDEWAYS"}, "order_by")],
)
def test_query_rejects_bad_input(
    service: ServiceFactory, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidField) as caught, service() as m:
        m.orgs.query(**kwargs)  # type: ignore[arg-type]
    assert field in caught.value.fields
    for size, number, bad in ((0, 0, "page_size"), (101, 0, "page_size"), (10, -1, "page_number")):
        with pytest.raises(InvalidField) as caught:
            PageRequest(size, number)
        assert bad in caught.value.fields


def test_update_every_field_and_audit(
    service: ServiceFactory, unique: Callable[[str], str], superuser: psycopg.Connection
) -> None:
    with service() as m:
        org = m.orgs.create(unique("upd"))
        m.role_mappings.create(unique("mapping") if False else "Default-copy-" + org.org_id[:8],
                               ["Owner", "Admin", "Member"])
    deadline = datetime(2030, 1, 1, tzinfo=UTC)
    with service() as m:
        updated = m.orgs.update(
            org.org_id, name="Renamed", metadata={"tier": 2}, max_users=3, domain="r.example",
            extra_domains=["B.example", "a.example", "a.example"], domain_autojoin=True,
            domain_restrict=True, require_2fa_by=deadline, can_setup_saml=True,
            custom_role_mapping_name="Default-copy-" + org.org_id[:8],
        )
    assert updated.name == "Renamed" and updated.url_safe_org_name == "renamed"
    assert updated.extra_domains == ["a.example", "b.example"]
    assert updated.require_2fa_by == deadline and updated.can_setup_saml
    assert updated.updated_at > org.updated_at
    [row] = audit_rows(superuser, org.org_id, "org.updated")
    assert "max_users" in row[4]["changed"]  # type: ignore[index]
    with service() as m:
        cleared = m.orgs.update(org.org_id, max_users=None, domain_restrict=False, domain=None)
    assert cleared.max_users is None and cleared.domain is None


def test_update_errors(service: ServiceFactory, unique: Callable[[str], str]) -> None:
    with service() as m:
        org = m.orgs.create(unique("upd"))
    with pytest.raises(InvalidField) as caught, service() as m:
        m.orgs.update(org.org_id, colour="red")
    assert "colour" in caught.value.fields
    with pytest.raises(InvalidField) as caught, service() as m:
        m.orgs.update(org.org_id, domain_restrict=True)  # needs a domain: a CHECK in the database
    assert "domain" in caught.value.fields
    with pytest.raises(NotFound), service() as m:
        m.orgs.update("00000000-0000-4000-8000-000000000000", name="x")


def test_delete_takes_memberships_invites_and_tenant_rows(
    service: ServiceFactory, fresh_orgs: TwoOrgs, count_notes: Callable[[str], int],
    superuser: psycopg.Connection,
) -> None:
    a = fresh_orgs.a
    with service() as m:
        m.invites.create(a.org_id, email="someone@example.com", role="Member")
    assert count_notes(a.org_id) > 0
    with service() as m:
        m.orgs.delete(a.org_id)
    for table in ("memberships", "invites"):
        row = superuser.execute(
            f"SELECT count(*) FROM tenantkit.{table} WHERE org_id = %s", (a.org_id,)
        ).fetchone()
        assert row == (0,)
    assert count_notes(a.org_id) == 0
    assert count_notes(fresh_orgs.b.org_id) > 0
    assert len(audit_rows(superuser, a.org_id, "org.deleted")) == 1  # the trail outlives the org
    with pytest.raises(NotFound), service() as m:
        m.orgs.delete(a.org_id)


def test_end_user_fields_are_limited(as_user: Callable, fresh_orgs: TwoOrgs) -> None:
    a = fresh_orgs.a
    with pytest.raises(Forbidden), as_user(a.owner_id, a.org_id) as m:
        m.orgs.update(a.org_id, max_users=1000)  # plan limits: no column grant
    with as_user(a.owner_id, a.org_id) as m:
        assert m.orgs.update(a.org_id, name="Owned").name == "Owned"
