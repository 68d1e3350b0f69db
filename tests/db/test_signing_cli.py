"""`tenantkit keys binding ...` and the key format: rotation with two live keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import tenantkit
from tenantkit import tenant_context
from tenantkit.cli import main
from tenantkit.db.signing import BindingKey, BindingSigner
from tenantkit.errors import BindingError
from tenantkit.testing import TestDatabase, TwoOrgs

NOTES = sa.text("SELECT count(*) FROM public.notes")


@pytest.mark.nodb
def test_keys_round_trip_and_never_print_their_secret() -> None:
    key = BindingKey.generate("k1")
    assert BindingKey.parse(key.export()) == key
    assert key.export().split(":")[1] not in repr(key)
    with pytest.raises(ValueError, match="1-32"):
        BindingKey("bad id!", b"x" * 32)
    with pytest.raises(ValueError, match="32 to 64"):
        BindingKey("short", b"x" * 8)


@pytest.mark.nodb
def test_the_signer_reads_one_or_several_keys_from_the_environment_or_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    one, two = BindingKey.generate("a"), BindingKey.generate("b")
    monkeypatch.setenv("TENANTKIT_BINDING_SECRET", f"{one.export()},{two.export()}")
    signer = BindingSigner.from_env()
    assert signer is not None and [k.key_id for k in signer.keys] == ["a", "b"]
    path = tmp_path / "secret"
    path.write_text(two.export() + "\n")
    monkeypatch.setenv("TENANTKIT_BINDING_SECRET", f"@{path}")
    signer = BindingSigner.from_env()
    assert signer is not None and signer.key == two
    monkeypatch.setenv("TENANTKIT_BINDING_SECRET", "")
    assert BindingSigner.from_env() is None


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, ["keys", "binding", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _count(db: TestDatabase, signer: BindingSigner, notes: TwoOrgs) -> int:
    engine = tenantkit.create_engine(db.url("app"), signer=signer, poolclass=sa.NullPool)
    try:
        with tenant_context(notes.a.context(notes.a.member_id)), engine.connect() as conn:
            return int(conn.execute(NOTES).scalar_one())
    finally:
        engine.dispose()


def test_rotation_with_two_live_keys_through_the_cli(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    url = tenantkit_db.url("owner").render_as_string(hide_password=False)
    new = BindingKey.parse(_run("new", "cli-k2").strip())
    assert "cli-k2 is live" in _run("add", new.export(), "--database-url", url)
    listed = _run("list", "--database-url", url)
    assert "signed binding: on" in listed and "cli-k2\t" in listed
    assert new.export().split(":")[1] not in listed
    run_key = BindingSigner.from_env()
    assert run_key is not None
    # Both live: an app signing with either (or checking both) reads its rows.
    assert _count(tenantkit_db, BindingSigner([new, run_key.key]), notes) > 0
    assert _count(tenantkit_db, BindingSigner([run_key.key]), notes) > 0
    assert "retired" in _run("retire", "cli-k2", "--database-url", url)
    with pytest.raises(BindingError, match="retired"):
        _count(tenantkit_db, BindingSigner([new]), notes)
    assert _count(tenantkit_db, BindingSigner([run_key.key]), notes) > 0
    result = CliRunner().invoke(main, ["keys", "binding", "retire", "cli-k2",
                                       "--database-url", url])
    assert result.exit_code != 0 and "no live binding key" in result.output
