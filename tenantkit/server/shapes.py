"""Service records -> PropelAuth-shaped response dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tenantkit.orgs import (
    ApiKey,
    AuditEntry,
    FeatureFlag,
    Invite,
    Member,
    Org,
    OrgMemberInfo,
    Page,
    RoleMapping,
    User,
)

__all__ = [
    "api_key",
    "audit_entry",
    "feature_flag",
    "invite",
    "member_info",
    "org",
    "paged",
    "role_mapping",
    "seconds",
    "user",
]


def seconds(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp())


def org(o: Org) -> dict[str, Any]:
    return {
        "org_id": o.org_id,
        "name": o.name,
        "org_name": o.name,
        "url_safe_org_name": o.url_safe_org_name,
        "url_safe_org_slug": o.url_safe_org_name,
        "metadata": o.metadata,
        "max_users": o.max_users,
        "domain": o.domain,
        "extra_domains": o.extra_domains,
        "domain_autojoin": o.domain_autojoin,
        "domain_restrict": o.domain_restrict,
        "autojoin_by_domain": o.domain_autojoin,
        "restrict_to_domain": o.domain_restrict,
        "custom_role_mapping_name": o.custom_role_mapping_name,
        "legacy_org_id": o.legacy_org_id,
        "external_id": o.external_id,
        "can_setup_saml": o.can_setup_saml,
        "is_saml_configured": o.is_saml_configured,
        "is_saml_in_test_mode": o.is_saml_in_test_mode,
        "require_2fa_by": seconds(o.require_2fa_by),
        "isolated": o.isolated,
        "password_rotation_enabled": False,
        "password_rotation_history_size": None,
        "password_rotation_period": None,
        "created_at": seconds(o.created_at),
        "updated_at": seconds(o.updated_at),
    }


def member_info(info: OrgMemberInfo) -> dict[str, Any]:
    return info.to_claims()


def user(u: User) -> dict[str, Any]:
    body: dict[str, Any] = {
        "user_id": u.user_id,
        "email": u.email,
        "email_confirmed": u.email_confirmed,
        "has_password": False,
        "username": u.username,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "picture_url": u.picture_url,
        "locked": u.locked,
        "enabled": u.enabled,
        "mfa_enabled": u.mfa_enabled,
        "can_create_orgs": u.can_create_orgs,
        "created_at": seconds(u.created_at),
        "last_active_at": seconds(u.last_active_at),
        "legacy_user_id": u.legacy_user_id,
        "impersonator_user_id": None,
        "metadata": u.metadata,
        "properties": u.properties,
        "isolated_org_id": u.isolated_org_id,
    }
    if u.orgs is not None:
        body["org_id_to_org_info"] = {i.org_id: member_info(i) for i in u.orgs}
    return body


def member(m: Member) -> dict[str, Any]:
    return {**user(m.user), "role_in_org": m.membership.role,
            "additional_roles_in_org": m.membership.additional_roles}


def invite(i: Invite) -> dict[str, Any]:
    return {
        "invite_id": i.invite_id,
        "invitee_email": i.email,
        "org_id": i.org_id,
        "org_name": i.org_name,
        "role_in_org": i.role,
        "additional_roles_in_org": i.additional_roles,
        "created_at": seconds(i.created_at),
        "expires_at": seconds(i.expires_at),
        "inviter_email": i.inviter_email,
        "inviter_user_id": i.inviter_user_id,
    }


def role_mapping(m: RoleMapping) -> dict[str, Any]:
    return {
        "custom_role_mapping_name": m.name,
        "num_orgs_subscribed": m.num_orgs_subscribed,
        "is_default": m.is_default,
        "org_role_structure": "multi_role" if m.multi_role else "single_role_in_hierarchy",
        "roles": [{"name": r.name, "rank": r.rank, "permissions": list(r.permissions),
                   "is_internal": r.is_internal,
                   "is_visible_to_end_user": r.is_visible_to_end_user} for r in m.roles],
    }


def api_key(k: ApiKey) -> dict[str, Any]:
    return {
        "api_key_id": k.api_key_id,
        "org_id": k.org_id,
        "display_name": k.name,
        "prefix": k.prefix,
        "permissions": k.permissions,
        "metadata": k.metadata,
        "created_at": seconds(k.created_at),
        "expires_at_seconds": seconds(k.expires_at),
        "last_used_at": seconds(k.last_used_at),
        "archived_at": seconds(k.archived_at),
    }


def feature_flag(f: FeatureFlag) -> dict[str, Any]:
    return {"org_id": f.org_id, "name": f.name, "enabled": f.enabled, "value": f.value,
            "updated_at": seconds(f.updated_at)}


def audit_entry(e: AuditEntry) -> dict[str, Any]:
    return {
        "audit_id": e.audit_id,
        "org_id": e.org_id,
        "action": e.action,
        "actor_kind": e.actor_kind,
        "actor_user_id": e.actor_user_id,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "metadata": e.metadata,
        "occurred_at": seconds(e.occurred_at),
    }


def paged(page: Page[Any], items_key: str, total_key: str, items: list[Any]) -> dict[str, Any]:
    """PropelAuth's paging envelope."""
    return {
        items_key: items,
        total_key: page.total,
        "current_page": page.page_number,
        "page_size": page.page_size,
        "has_more_results": page.has_more,
    }
