"""Organization management: orgs, users, members, invites, role mappings,
domains, API keys, feature flags and the audit log.

The same code runs on a service-role connection (any org) and on an app-role
session bound to an end user, where PostgreSQL's policies decide. Start from
`Management(conn)`. This package never imports a web framework.
"""

from tenantkit.orgs.actor import Actor
from tenantkit.orgs.api_keys import ApiKeyKind, ApiKeys
from tenantkit.orgs.audit import AuditLog
from tenantkit.orgs.domains import Domains
from tenantkit.orgs.flags import FeatureFlags
from tenantkit.orgs.invites import AcceptedInvite, Invites
from tenantkit.orgs.key_verifier import OrgApiKeyVerifier
from tenantkit.orgs.management import Management
from tenantkit.orgs.members import Members
from tenantkit.orgs.models import (
    ApiKey,
    ApiKeyValidation,
    AuditEntry,
    CreatedApiKey,
    CreatedInvite,
    DomainVerification,
    FeatureFlag,
    Invite,
    InviteDelivery,
    Member,
    Membership,
    Org,
    OrgMemberInfo,
    Page,
    Role,
    RoleMapping,
    Settings,
    User,
    UserOrg,
)
from tenantkit.orgs.orgs import OrgOrder, Orgs
from tenantkit.orgs.paging import CursorRequest, PageRequest
from tenantkit.orgs.roles import RoleMappings
from tenantkit.orgs.settings import ProjectSettings
from tenantkit.orgs.users import UserOrder, Users

__all__ = [
    "AcceptedInvite",
    "Actor",
    "ApiKey",
    "ApiKeyKind",
    "ApiKeyValidation",
    "ApiKeys",
    "AuditEntry",
    "AuditLog",
    "CreatedApiKey",
    "CreatedInvite",
    "CursorRequest",
    "DomainVerification",
    "Domains",
    "FeatureFlag",
    "FeatureFlags",
    "Invite",
    "InviteDelivery",
    "Invites",
    "Management",
    "Member",
    "Members",
    "Membership",
    "Org",
    "OrgApiKeyVerifier",
    "OrgMemberInfo",
    "OrgOrder",
    "Orgs",
    "Page",
    "PageRequest",
    "ProjectSettings",
    "Role",
    "RoleMapping",
    "RoleMappings",
    "Settings",
    "User",
    "UserOrder",
    "UserOrg",
    "Users",
]
