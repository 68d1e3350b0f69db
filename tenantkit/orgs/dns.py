"""Reading a domain's verification TXT record with dnspython (the `domains` extra).

The lookup runs outside any transaction (it waits on the network); its answer
then goes to `Domains.confirm`, which compares it with the stored token.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["TXT_LABEL", "txt_name", "txt_values"]

#: The label the TXT record goes under: `_tenantkit-verification.<domain>`.
TXT_LABEL: Final = "_tenantkit-verification"


def txt_name(domain: str) -> str:
    return f"{TXT_LABEL}.{domain}"


def txt_values(domain: str, resolver: Any | None = None) -> list[str]:
    """The TXT strings published for `domain`'s verification; [] when none or unreachable.

    resolver: a `dns.resolver.Resolver` (default: the system's, with a 5 s lifetime).
    """
    try:
        import dns.exception
        import dns.resolver
    except ImportError:  # pragma: no cover - the extra is missing
        raise RuntimeError('domain verification needs dnspython: pip install "tenantkit[domains]"'
                           ) from None
    chosen = resolver
    if chosen is None:
        chosen = dns.resolver.Resolver()
        chosen.lifetime = 5.0
    try:
        answer = chosen.resolve(txt_name(domain), "TXT")
    except dns.exception.DNSException:  # NXDOMAIN, no answer, timeout: not verified
        return []
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]
