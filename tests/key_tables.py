"""Org API keys and tenant tables for the key-principal tests (db and web), shared.

Two seeded tenants; per org ROWS rows in each table:
- `key_items`: read `any_member() | api_key()`, write `permission("items:write")`;
- `member_only`: tenantkit's default rules (`any_member()`);
- `admin_only`: read `minimum_role("Member")` (a role rule);
- `keys_only`: read `api_key()`.
Keys: A with items:write, A with nothing, B with items:write (ids and secrets).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest
import sqlalchemy as sa

from tenantkit.orgs import Actor, Management
from tenantkit.rls import (
    TableName,
    TenancySpec,
    any_member,
    api_key,
    minimum_role,
    permission,
    tenancy_script,
)
from tenantkit.testing import TestDatabase, TwoOrgs

ROWS = 4


@dataclass(frozen=True)
class Key:
    api_key_id: str
    secret: str


@dataclass(frozen=True)
class OrgKeys:
    orgs: TwoOrgs
    a_writer: Key  # org A, items:write
    a_plain: Key  # org A, no permission
    b_writer: Key  # org B, items:write


def new_key(service_engine: sa.Engine, org_id: str, *permissions: str) -> Key:
    """A fresh org key of `org_id`, committed."""
    with service_engine.begin() as conn:
        created = Management(conn, Actor.service()).api_keys.create(
            kind="org", org_id=org_id, name="test", permissions=list(permissions)
        )
    return Key(created.api_key.api_key_id, created.secret)


def _table(conn: psycopg.Connection[tuple[object, ...]], name: str, spec: TenancySpec,
           app_role: str) -> None:
    conn.execute(
        f"CREATE TABLE public.{name} (org_id uuid NOT NULL, "
        "id bigint GENERATED ALWAYS AS IDENTITY, body text NOT NULL DEFAULT '', "
        "PRIMARY KEY (org_id, id))"
    )
    conn.execute(tenancy_script(TableName(name, "public"), spec, role=app_role))


@pytest.fixture(scope="session")
def org_keys(tenantkit_db: TestDatabase, seed: TwoOrgs, service_engine: sa.Engine) -> OrgKeys:
    app = tenantkit_db.roles.app
    tables = {
        "key_items": TenancySpec(
            read=any_member() | api_key(), insert=permission("items:write"),
            update=permission("items:write"), delete=permission("items:write")),
        "member_only": TenancySpec(),
        "admin_only": TenancySpec(read=minimum_role("Member")),
        "keys_only": TenancySpec(read=api_key()),
    }
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
        for name, spec in tables.items():
            _table(conn, name, spec, app)
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        for name in tables:
            for org in (seed.a.org_id, seed.b.org_id):
                conn.execute(
                    f"INSERT INTO public.{name} (org_id) "
                    "SELECT %s FROM generate_series(1, %s)", (org, ROWS))
    return OrgKeys(
        seed,
        new_key(service_engine, seed.a.org_id, "items:write"),
        new_key(service_engine, seed.a.org_id),
        new_key(service_engine, seed.b.org_id, "items:write"),
    )
