"""Token verification: `TokenVerifier.verify` against bare `jwt.decode`, and cache hits.

Same RSA-2048 key and RS256 for every variant; the key is passed to `jwt.decode`
already loaded, so neither side pays for PEM parsing. Variants run interleaved
in rounds (their order rotating each round) and each figure is the median
per-call time over the rounds. Targets (issue 4): strict verify <= 1.15x bare
`jwt.decode`; a cache hit >= 10x faster than a full verify.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable

import jwt

from tenantkit.tokens import OrgMemberInfo, TokenIssuer, TokenVerifier

ROUNDS = 21
CALLS_PER_ROUND = 200


def _per_call_us(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - start) / calls / 1000


def _medians(variants: dict[str, Callable[[], object]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for fn in variants.values():  # warm up
        _per_call_us(fn, 20)
    for round_no in range(ROUNDS):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_per_call_us(variants[name], CALLS_PER_ROUND))
    return {name: statistics.median(values) for name, values in samples.items()}


def _orgs(count: int) -> list[OrgMemberInfo]:
    return [
        OrgMemberInfo(
            org_id=str(uuid.uuid4()),
            user_role="Admin",
            inherited_user_roles_plus_current_role=("Admin", "Member"),
            user_permissions=("projects:read", "projects:write", "billing:read"),
            org_name=f"Org {i}",
            url_safe_org_name=f"org-{i}",
            org_metadata={"tier": "enterprise"},
        )
        for i in range(count)
    ]


def _bench_shape(issuer: TokenIssuer, org_count: int) -> None:
    token = issuer.issue(user_id=str(uuid.uuid4()), email="ada@example.com", orgs=_orgs(org_count))
    public_key = jwt.PyJWK(issuer.jwks()["keys"][0]).key
    strict = TokenVerifier.for_issuer(issuer, cache_size=0)
    cached = TokenVerifier.for_issuer(issuer)
    cached.verify(token)  # the cache-hit variant only ever hits

    variants: dict[str, Callable[[], object]] = {
        "jwt.decode, bare": lambda: jwt.decode(token, public_key, algorithms=["RS256"]),
        "jwt.decode, PropelAuth options": lambda: jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            issuer=issuer.issuer,
            leeway=60,
            options={"require": ["exp", "iat", "iss"]},
        ),
        "TokenVerifier.verify, no cache": lambda: strict.verify(token),
        "TokenVerifier.verify, cache hit": lambda: cached.verify(token),
    }
    medians = _medians(variants)

    print(f"\n{org_count} org(s), token {len(token)} bytes - median us per call")
    for name, value in medians.items():
        print(f"  {name:<34} {value:8.1f}")
    full = medians["TokenVerifier.verify, no cache"]
    hit = medians["TokenVerifier.verify, cache hit"]
    bare = medians["jwt.decode, bare"]
    propel = medians["jwt.decode, PropelAuth options"]
    print(f"  strict verify / jwt.decode bare        {full / bare:6.2f}x  (target <= 1.15x)")
    print(f"  strict verify / jwt.decode PropelAuth  {full / propel:6.2f}x")
    print(f"  full verify / cache hit                {full / hit:6.1f}x  (target >= 10x)")


def main() -> None:
    """Print medians and ratios for a one-org and a five-org PropelAuth-shaped token."""
    issuer = TokenIssuer.generate(issuer="https://auth.example.com")
    print(f"RS256, RSA-2048; {ROUNDS} interleaved rounds x {CALLS_PER_ROUND} calls per variant")
    for org_count in (1, 5):
        _bench_shape(issuer, org_count)


if __name__ == "__main__":
    main()
