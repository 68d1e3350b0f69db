"""Endpoint URLs: https only, or http to a loopback host for development.

The database's CHECK constraint enforces the same rule (no role can store an
http URL to another host); this module answers with a typed error first. A
worker delivers to http URLs only when started for development
(`--allow-loopback-http`), and never follows redirects.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from tenantkit.errors import InvalidField

__all__ = ["LOOPBACK_HOSTS", "check_url", "is_https"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_LENGTH = 2000


def is_https(url: str) -> bool:
    return url.startswith("https://")


def check_url(field: str, url: object) -> str:
    """`url` if it is an acceptable endpoint URL; InvalidField naming the reason otherwise."""
    if not isinstance(url, str) or not url:
        raise InvalidField(field, "must be a URL")
    if len(url) > MAX_LENGTH:
        raise InvalidField(field, f"must be at most {MAX_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidField(field, "must not contain whitespace or control characters")
    if not url.isascii():
        raise InvalidField(field, "must be ASCII (punycode and percent-encoding for the rest)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidField(field, "is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidField(field, "must be an https:// URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidField(field, "must not carry credentials")
    if parts.fragment or "#" in url:
        raise InvalidField(field, "must not have a fragment")
    if port == 0:
        raise InvalidField(field, "has an invalid port")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise InvalidField(field, "must be https (http only to 127.0.0.1, ::1 or localhost)")
    if parts.scheme == "https" and _is_unspecified(parts.hostname):
        raise InvalidField(field, "must name a host")
    return url


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
