"""`tenantkit keys generate|public` and `tenantkit token`, through the real CLI entry point."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from tenantkit.cli import main
from tenantkit.tokens import TokenIssuer, TokenVerifier
from tenantkit.tokens.cli import keys_command

from ._helpers import ORG, OTHER_ORG, USER

pytestmark = pytest.mark.nodb


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "signing.pem"
    result = run("keys", "generate", "--out", str(path))
    assert result.exit_code == 0, result.output
    return path


def test_generate_writes_a_0600_private_key(key_file: Path) -> None:
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    issuer = TokenIssuer.from_pem(key_file.read_bytes())
    assert "BEGIN PRIVATE KEY" in key_file.read_text()
    assert issuer.kid


def test_generate_refuses_to_overwrite(key_file: Path) -> None:
    before = key_file.read_bytes()
    result = CliRunner().invoke(main, ["keys", "generate", "--out", str(key_file)])
    assert result.exit_code != 0
    assert "--force" in result.output
    assert key_file.read_bytes() == before


def test_generate_force_replaces_and_tightens_permissions(key_file: Path) -> None:
    before = key_file.read_bytes()
    key_file.chmod(0o644)
    assert run("keys", "generate", "--out", str(key_file), "--force").exit_code == 0
    assert key_file.read_bytes() != before
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_generate_refuses_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep me")
    link = tmp_path / "link.pem"
    link.symlink_to(target)
    result = CliRunner().invoke(main, ["keys", "generate", "--out", str(link), "--force"])
    assert result.exit_code == 1
    assert "cannot write" in result.output
    assert target.read_text() == "keep me"


def test_generate_can_print_the_jwks(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    result = run("keys", "generate", "--out", str(path), "--print", "jwks")
    (key,) = json.loads(result.stdout)["keys"]
    assert key["kid"] == TokenIssuer.from_pem(path.read_bytes()).kid
    assert "PRIVATE" not in result.stdout


@pytest.mark.parametrize("fmt", ["pem", "jwks"])
def test_public_prints_the_verification_key(key_file: Path, fmt: str) -> None:
    result = run("keys", "public", "--key", str(key_file), "--format", fmt)
    issuer = TokenIssuer.from_pem(key_file.read_bytes())
    expected = (
        json.dumps(issuer.jwks(), indent=2) + "\n" if fmt == "jwks" else issuer.public_key_pem
    )
    assert result.stdout == expected
    assert "PRIVATE" not in result.stdout


def test_token_prints_a_verifiable_token(key_file: Path) -> None:
    result = run(
        "token", "--user", USER, "--org", ORG, "--org", OTHER_ORG, "--role", "Admin",
        "--permission", "read", "--email", "dev@example.com", "--key", str(key_file),
    )  # fmt: skip
    token = result.stdout.strip()
    verifier = TokenVerifier.for_issuer(TokenIssuer.from_pem(key_file.read_bytes()))
    principal = verifier.verify(token)
    assert principal.user_id == USER
    assert principal.email == "dev@example.com"
    org = principal.get_org(ORG)
    assert org is not None
    assert org.user_role == "Admin"
    assert org.inherited_user_roles_plus_current_role == ("Admin", "Member")
    assert org.user_permissions == ("read",)
    assert principal.get_org(OTHER_ORG) is not None


def test_token_with_an_active_org_and_custom_issuer(key_file: Path) -> None:
    result = run(
        "token", "--user", USER, "--org", ORG, "--org", OTHER_ORG, "--active-org", OTHER_ORG,
        "--issuer", "https://app.example.com", "--lifetime", "60", "--key", str(key_file),
    )  # fmt: skip
    issuer = TokenIssuer.from_pem(key_file.read_bytes(), issuer="https://app.example.com")
    principal = TokenVerifier.for_issuer(issuer).verify(result.stdout.strip())
    assert principal.active_org_id == OTHER_ORG
    assert principal.claims["exp"] - principal.claims["iat"] == 60


def test_token_owner_by_default_implies_every_default_role(key_file: Path) -> None:
    token = run("token", "--user", USER, "--org", ORG, "--key", str(key_file)).stdout.strip()
    verifier = TokenVerifier.for_issuer(TokenIssuer.from_pem(key_file.read_bytes()))
    org = verifier.verify(token).get_org(ORG)
    assert org is not None
    assert org.inherited_user_roles_plus_current_role == ("Owner", "Admin", "Member")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--user", "not-a-uuid"], "lowercase UUID"),
        (["--user", USER.upper()], "lowercase UUID"),
        (["--user", USER, "--org", "1"], "lowercase UUID"),
        (["--user", USER, "--org", ORG, "--active-org", OTHER_ORG], "one of the --org ids"),
        (["--user", USER, "--lifetime", "0"], "lifetime"),
    ],
)
def test_token_refuses_bad_arguments(key_file: Path, args: list[str], complaint: str) -> None:
    result = CliRunner().invoke(main, ["token", *args, "--key", str(key_file)])
    assert result.exit_code == 2
    assert complaint in result.output


def test_token_without_a_key_says_how_to_make_one(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    result = CliRunner().invoke(main, ["token", "--user", USER, "--key", str(missing)])
    assert result.exit_code == 1
    assert "tenantkit keys generate" in result.output


def test_token_warns_about_a_readable_key(key_file: Path) -> None:
    key_file.chmod(0o644)
    result = CliRunner().invoke(main, ["token", "--user", USER, "--key", str(key_file)])
    assert result.exit_code == 0
    assert "readable by others" in result.stderr


def test_the_key_path_comes_from_the_environment(key_file: Path) -> None:
    result = CliRunner(env={"TENANTKIT_SIGNING_KEY": str(key_file)}).invoke(
        main, ["token", "--user", USER]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count(".") == 2


def test_keys_is_an_extensible_group() -> None:
    assert isinstance(keys_command, click.Group)
    assert {"generate", "public"} <= set(keys_command.commands)
