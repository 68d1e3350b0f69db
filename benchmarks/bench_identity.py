"""Issue 12 benchmark: what mapping a provider's ids costs, and that it adds no round trip.

200 orgs, each with one member, linked to WorkOS-shaped ids (`orgs.external_id`,
`user_identities`). Per call, interleaved in rounds (random user each round):

- uuid: `TokenVerifier.verify` of a tenantkit-shaped token (verified-token
  cache hit): what a request pays without any provider ids;
- workos-plain: `TokenVerifier.verify` of the WorkOS token alone (cache hit,
  ids unmapped, so it could not bind): the same token's baseline;
- workos-warm: `ResolvingVerifier.verify` of a WorkOS token, ids in `IdCache`;
- workos-cold: the same with the id cache emptied first: one service-role query.

Round trips are counted, not timed: the service-role statements each variant
issues (warm: 0), and the app-role statements of one bound request, which
are the same for a UUID token and a resolved WorkOS token (the resolution
happens before binding; the bind statement is unchanged and rides BEGIN).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event

from benchmarks._support import add_orgs_with_one_member, bench_database, interleave, report
from tenantkit import create_engine, tenant_context
from tenantkit.context import TenantContext
from tenantkit.identity import IdentityResolver, ResolvingVerifier
from tenantkit.tokens import OrgMemberInfo, TokenIssuer, TokenVerifier, WorkOSClaims

ORGS = 200
ROUNDS = 2000
WARMUP = 200
ISSUER = "https://api.workos.com/user_management/client_bench"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _workos_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(CROCKFORD) for _ in range(26))


class _Statements:
    def __init__(self, engine: sa.Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


def main() -> None:
    with bench_database() as db:
        org_ids, user_ids = add_orgs_with_one_member(db, ORGS, "Identity")
        ext_orgs = [_workos_id("org") for _ in org_ids]
        ext_users = [_workos_id("user") for _ in user_ids]
        with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
            for org, ext in zip(org_ids, ext_orgs, strict=True):
                conn.execute("UPDATE tenantkit.orgs SET external_id = %s WHERE org_id = %s",
                             (ext, org))
            for user, ext in zip(user_ids, ext_users, strict=True):
                conn.execute(
                    "INSERT INTO tenantkit.user_identities (provider, external_id, user_id)"
                    " VALUES ('workos', %s, %s)", (ext, user))
        issuer = TokenIssuer.generate(issuer=ISSUER)
        now = int(time.time())
        uuid_tokens = [
            issuer.issue(user_id=u, orgs=[OrgMemberInfo(o, "Member")], active_org_id=o)
            for u, o in zip(user_ids, org_ids, strict=True)
        ]
        workos_tokens = [
            issuer.sign({"iss": ISSUER, "sub": u, "org_id": o, "role": "member",
                         "iat": now, "exp": now + 3600})
            for u, o in zip(ext_users, ext_orgs, strict=True)
        ]
        plain = TokenVerifier.for_issuer(issuer)
        workos = TokenVerifier(issuer=ISSUER, jwks=issuer.jwks(), claims=WorkOSClaims())
        service = sa.create_engine(db.url("service"), pool_size=2)
        service_statements = _Statements(service)
        warm = IdentityResolver(provider="workos", engine=service)
        cold = IdentityResolver(provider="workos", engine=service)
        warm_verifier = ResolvingVerifier(workos, warm)
        cold_verifier = ResolvingVerifier(workos, cold)

        def cold_call(key: int) -> object:
            cold.invalidate_all()
            return cold_verifier.verify(workos_tokens[key])

        timings = interleave(
            [
                ("uuid", lambda k: plain.verify(uuid_tokens[k])),
                ("workos-plain", lambda k: workos.verify(workos_tokens[k])),
                ("workos-warm", lambda k: warm_verifier.verify(workos_tokens[k])),
                ("workos-cold", cold_call),
            ],
            rounds=ROUNDS, warmup=WARMUP, keys=ORGS,
        )
        report(
            f"verify + resolve, per call ({ORGS} orgs, {ROUNDS} interleaved rounds)",
            timings,
            [("workos-warm", "workos-plain", 1.5)],
        )
        warm_cost = timings["workos-warm"].median_us - timings["workos-plain"].median_us
        cold_cost = timings["workos-cold"].median_us - timings["workos-plain"].median_us
        print(f"  resolution cost per request: warm {warm_cost:.1f} us, "
              f"cold (one service-role query) {cold_cost:.1f} us")

        # Round trips: service-role statements per call, and the app role's per request.
        for key in range(ORGS):
            warm_verifier.verify(workos_tokens[key])
        before = service_statements.count
        for key in range(ORGS):
            warm_verifier.verify(workos_tokens[key])
        warm_queries = (service_statements.count - before) / ORGS
        before = service_statements.count
        for key in range(20):
            cold_call(key)
        cold_queries = (service_statements.count - before) / 20
        app = create_engine(db.url("app"), pool_size=1)
        app_statements = _Statements(app)
        counts = {}
        for name, principal in (
            ("uuid", plain.verify(uuid_tokens[0])),
            ("workos", warm_verifier.verify(workos_tokens[0])),
        ):
            assert principal.active_org_id is not None
            before = app_statements.count
            with tenant_context(TenantContext(principal.user_id, principal.active_org_id)), \
                    app.begin() as bound:
                bound.execute(sa.text("SELECT tenantkit.current_org_id()")).scalar_one()
            counts[name] = app_statements.count - before
        print(f"  service-role statements per call: warm {warm_queries:.2f}, "
              f"cold {cold_queries:.2f}")
        print(f"  app-role statements per bound request: uuid {counts['uuid']}, "
              f"workos {counts['workos']} (the bind rides BEGIN in both)")
        verdict = "meets" if warm_queries == 0 and counts["uuid"] == counts["workos"] else "MISSES"
        print(f"  no extra round trip when warm: {verdict}")
        app.dispose()
        service.dispose()
