"""Signed binding by default (migration 0013): a new install signs, an upgrade keeps
its setting, the opt-out is explicit, and an engine that cannot sign is refused at
its first connection with what to run, never served empty results.

Each database here is created bare, as a user's would be, and migrated the ways
a user migrates: `tenantkit migrate`, `upgrade()`, install.sql.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import tenantkit
from tenantkit import migrate, tenant_context
from tenantkit.cli import main
from tenantkit.db.signing import (
    ENV_VAR,
    BindingKey,
    BindingSigner,
    add_key,
    retire_key,
    set_signing,
    signing_state,
)
from tenantkit.doctor import run_checks
from tenantkit.errors import BindingError
from tenantkit.testing import (
    RunningServer,
    TestDatabase,
    TwoOrgs,
    provision_database,
    seed_two_orgs,
)

#: The bound org's own row, through tenantkit's SECURITY DEFINER reader: 1 only
#: when the binding counts (signing verifies it, or signing is off).
OWN_ORG = sa.text("SELECT count(*) FROM tenantkit.current_org()")
SPOOF = sa.text(
    "SELECT set_config('tenantkit.user_id', :u, true), set_config('tenantkit.org_id', :o, true)"
)


@pytest.fixture
def bare(tenantkit_server: RunningServer) -> Iterator[TestDatabase]:
    db = provision_database(tenantkit_server)
    yield db
    if not tenantkit_server.throwaway:
        db.drop()


def _migrate(db: TestDatabase, *args: str, secret: str | None = None) -> tuple[int, str]:
    """`tenantkit migrate` as a user runs it; `secret` is TENANTKIT_BINDING_SECRET (unset: None)."""
    url = db.url("owner").render_as_string(hide_password=False)
    result = CliRunner().invoke(
        main,
        ["migrate", "--database-url", url, "--app-role", db.roles.app,
         "--service-role", db.roles.service, *args],
        env={ENV_VAR: secret},
    )
    return result.exit_code, result.output


def _state(db: TestDatabase) -> tuple[bool, int]:
    with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
        return signing_state(conn)


def _seed(db: TestDatabase) -> TwoOrgs:
    engine = sa.create_engine(db.url("service"), poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            return seed_two_orgs(conn)
    finally:
        engine.dispose()


def _attack(db: TestDatabase, orgs: TwoOrgs, signer: BindingSigner | None) -> tuple[int, int]:
    """(own org seen, B's org seen after A's member set_config's B's Owner)."""
    a, b = orgs.a, orgs.b
    engine = tenantkit.create_engine(db.url("app"), signer=signer, poolclass=sa.NullPool)
    try:
        with tenant_context(a.context(a.member_id)), engine.connect() as conn:
            own = conn.execute(OWN_ORG).scalar_one()
            conn.execute(SPOOF, {"u": b.owner_id, "o": b.org_id})
            spoofed = conn.execute(OWN_ORG).scalar_one()
            conn.rollback()
    finally:
        engine.dispose()
    return int(own), int(spoofed)


def _refusal(db: TestDatabase, signer: BindingSigner | None) -> str:
    engine = tenantkit.create_engine(db.url("app"), signer=signer, poolclass=sa.NullPool)
    try:
        with pytest.raises(BindingError) as refused, engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()
    return str(refused.value)


def test_a_new_install_signs_with_the_key_it_is_given(bare: TestDatabase) -> None:
    key = BindingKey.generate("k1")
    code, output = _migrate(bare, secret=key.export())
    assert code == 0, output
    assert "signed binding on (a new install signs by default), key k1 registered" in output
    assert key.export().split(":", 1)[1] not in output  # never the secret
    assert _state(bare) == (True, 1)
    orgs = _seed(bare)
    # Protected: the spoof binds nothing; the exposed twin is the opt-out test below.
    assert _attack(bare, orgs, BindingSigner([key])) == (1, 0)
    assert "requires signed binding" in _refusal(bare, None)


def test_binding_secret_option_and_a_key_file(bare: TestDatabase, tmp_path: object) -> None:
    keys = [BindingKey.generate("k2"), BindingKey.generate("k1")]
    path = f"{tmp_path}/binding.keys"
    with open(path, "w", encoding="utf-8") as file:
        file.write(",".join(k.export() for k in keys))
    code, output = _migrate(bare, "--binding-secret", f"@{path}", secret=None)
    assert code == 0, output
    assert "key k2, k1 registered" in output
    assert _state(bare) == (True, 2)


def test_a_new_install_without_a_key_refuses_every_engine_and_says_what_to_run(
    bare: TestDatabase,
) -> None:
    code, output = _migrate(bare, secret=None)
    assert code == 0, output
    assert "no binding key is registered yet" in output
    for command in ("tenantkit keys binding new k1", "tenantkit keys binding add k1:<secret>",
                    f"export {ENV_VAR}=k1:<secret>", "tenantkit keys binding disable"):
        assert command in output
    assert _state(bare) == (True, 0)

    unsigned = _refusal(bare, None)
    for command in ("tenantkit keys binding new", "tenantkit keys binding add", ENV_VAR,
                    "tenantkit keys binding disable"):
        assert command in unsigned
    key = BindingKey.generate("k1")
    unknown = _refusal(bare, BindingSigner([key]))
    assert "is not in the database's binding_keys" in unknown
    assert "tenantkit keys binding add k1:<secret>" in unknown

    # Doing what it said: the key is added, and the same engine works.
    owner = bare.url("owner").render_as_string(hide_password=False)
    added = CliRunner().invoke(main, ["keys", "binding", "add", key.export(),
                                      "--database-url", owner])
    assert added.exit_code == 0, added.output
    assert _attack(bare, _seed(bare), BindingSigner([key])) == (1, 0)


def test_the_opt_out_is_explicit_visible_and_leaves_the_hole_open(bare: TestDatabase) -> None:
    code, output = _migrate(bare, "--unsigned-binding", secret=None)
    assert code == 0, output
    assert "warning: signed binding is off (opted out)" in output
    assert _state(bare) == (False, 0)
    orgs = _seed(bare)
    # Exposed: with signing off the spoof binds B's Owner (the hole signing closes).
    assert _attack(bare, orgs, None) == (1, 1)
    engine = sa.create_engine(bare.url("owner"), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            found = [f for f in run_checks(conn, app_role=bare.roles.app)
                     if f.check == "signed-binding"]
    finally:
        engine.dispose()
    assert [(f.severity, f.object) for f in found] == [("warning", "tenantkit.settings")]


def test_an_upgrade_keeps_signing_off(bare: TestDatabase) -> None:
    migrate.upgrade(bare.url("owner"), roles=bare.roles, revision="0011")  # before 0013
    assert _state(bare) == (False, 0)
    code, output = _migrate(bare, secret=BindingKey.generate("k1").export())
    assert code == 0, output
    assert "installed before signing was the default" in output
    assert _state(bare) == (False, 0)  # and no key was registered behind its back
    assert _attack(bare, _seed(bare), None) == (1, 1)


def test_an_upgrade_keeps_signing_on_and_never_revives_a_retired_key(
    bare: TestDatabase,
) -> None:
    migrate.upgrade(bare.url("owner"), roles=bare.roles, revision="0011")
    old, new = BindingKey.generate("old"), BindingKey.generate("new")
    with psycopg.connect(bare.conninfo("owner"), autocommit=True) as conn:
        add_key(conn, old)
        add_key(conn, new)
        assert set_signing(conn, True)
        assert retire_key(conn, "old")
    code, output = _migrate(bare, secret=f"{new.export()},{old.export()}")
    assert code == 0, output
    assert _state(bare) == (True, 1)  # "old" stays retired
    assert "is retired" in _refusal(bare, BindingSigner([new, old]))


def test_unsigned_engines_work_before_signing_existed_and_without_tenantkit(
    bare: TestDatabase,
) -> None:
    """The first-use check has nothing to check there (no function, no schema)."""
    for revision in (None, "0005"):
        if revision is not None:
            migrate.upgrade(bare.url("owner"), roles=bare.roles, revision=revision)
        engine = tenantkit.create_engine(bare.url("app"), signer=None, poolclass=sa.NullPool)
        try:
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        finally:
            engine.dispose()


def test_upgrade_api_install_sql_and_a_reinstall(bare: TestDatabase) -> None:
    url = bare.url("owner")
    migrate.upgrade(url, roles=bare.roles, signed_binding=False)
    assert _state(bare) == (False, 0)
    migrate.downgrade(url, roles=bare.roles)
    migrate.upgrade(url, roles=bare.roles)  # after a downgrade to base: a new install
    assert _state(bare) == (True, 0)
    migrate.downgrade(url, roles=bare.roles)
    with psycopg.connect(bare.conninfo("owner"), autocommit=True) as conn:
        conn.execute("DROP SCHEMA tenantkit CASCADE")  # install.sql makes the version table
        conn.execute(migrate.render_install_sql(bare.roles))
        assert signing_state(conn) == (True, 0)


def test_install_sql_takes_the_opt_out() -> None:
    assert "SET signed_binding = true" in migrate.render_install_sql()
    assert "SET signed_binding = true" not in migrate.render_install_sql(signed_binding=False)
    result = CliRunner().invoke(main, ["migrate", "--sql", "--unsigned-binding"])
    assert result.exit_code == 0
    assert "SET signed_binding = true" not in result.output
