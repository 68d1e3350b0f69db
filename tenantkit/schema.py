"""SQLAlchemy `Table`s mirroring tenantkit's own schema (created by the migrations).

These are for querying only: the DDL lives in `sql/` and runs through the
migrations, so this metadata is never used to create tables. A test checks
that every column here exists in the migrated database with the same name.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    FetchedValue,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

__all__ = [
    "api_keys",
    "audit_log",
    "feature_flags",
    "idempotency_keys",
    "invites",
    "memberships",
    "metadata",
    "org_domain_verifications",
    "org_tombstones",
    "orgs",
    "role_mappings",
    "roles",
    "settings",
    "users",
]

metadata = MetaData(schema="tenantkit")

_uuid = UUID(as_uuid=False)
_ts = DateTime(timezone=True)
_texts = ARRAY(Text)
# Primary keys the database generates (gen_random_uuid()) carry
# server_default=FetchedValue(), so inserts may leave them out.

settings = Table(
    "settings",
    metadata,
    Column("singleton", Boolean, primary_key=True),
    Column("users_can_create_orgs", Boolean, nullable=False),
    Column("all_users_must_be_in_org", Boolean, nullable=False),
    Column("max_orgs_per_user", Integer),
    Column("org_word", Text, nullable=False),
    Column("updated_at", _ts, nullable=False),
    Column("max_invite_expiry", Interval, nullable=False),
    Column("signed_binding", Boolean, nullable=False),
)

role_mappings = Table(
    "role_mappings",
    metadata,
    Column("mapping_id", _uuid, primary_key=True, server_default=FetchedValue()),
    Column("name", Text, nullable=False),
    Column("multi_role", Boolean, nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", _ts, nullable=False),
)

roles = Table(
    "roles",
    metadata,
    Column("mapping_id", _uuid, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("rank", Integer, nullable=False),
    Column("permissions", _texts, nullable=False),
    Column("is_internal", Boolean, nullable=False),
    Column("is_visible_to_end_user", Boolean, nullable=False),
    Column("description", Text),
)

orgs = Table(
    "orgs",
    metadata,
    Column("org_id", _uuid, primary_key=True, server_default=FetchedValue()),
    Column("name", Text, nullable=False),
    Column("url_safe_org_name", Text, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("max_users", Integer),
    Column("domain", Text),
    Column("extra_domains", _texts, nullable=False),
    Column("domain_autojoin", Boolean, nullable=False),
    Column("domain_restrict", Boolean, nullable=False),
    Column("custom_role_mapping_name", Text),
    Column("legacy_org_id", Text),
    Column("external_id", Text),
    Column("can_setup_saml", Boolean, nullable=False),
    Column("is_saml_configured", Boolean, nullable=False),
    Column("is_saml_in_test_mode", Boolean, nullable=False),
    Column("require_2fa_by", _ts),
    Column("isolated", Boolean, nullable=False),
    Column("created_at", _ts, nullable=False),
    Column("updated_at", _ts, nullable=False),
)

# Ids of deleted orgs, never reused. Only the owner (through triggers) reads or writes it.
org_tombstones = Table(
    "org_tombstones",
    metadata,
    Column("org_id", _uuid, primary_key=True),
    Column("deleted_at", _ts, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("user_id", _uuid, primary_key=True, server_default=FetchedValue()),
    Column("email", Text, nullable=False),
    Column("email_confirmed", Boolean, nullable=False),
    Column("username", Text),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("picture_url", Text),
    Column("properties", JSONB, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("locked", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("mfa_enabled", Boolean, nullable=False),
    Column("can_create_orgs", Boolean, nullable=False),
    Column("legacy_user_id", Text),
    Column("isolated_org_id", _uuid),
    Column("created_at", _ts, nullable=False),
    Column("last_active_at", _ts),
)

memberships = Table(
    "memberships",
    metadata,
    Column("org_id", _uuid, primary_key=True),
    Column("user_id", _uuid, primary_key=True),
    Column("role", Text, nullable=False),
    Column("additional_roles", _texts, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", _ts, nullable=False),
    Column("updated_at", _ts, nullable=False),
)

invites = Table(
    "invites",
    metadata,
    Column("invite_id", _uuid, primary_key=True, server_default=FetchedValue()),
    Column("org_id", _uuid, nullable=False),
    Column("email", Text, nullable=False),
    Column("invitee_user_id", _uuid),
    Column("role", Text, nullable=False),
    Column("additional_roles", _texts, nullable=False),
    Column("inviter_user_id", _uuid),
    Column("token_hash", LargeBinary, nullable=False),
    Column("state", Text, nullable=False),
    Column("created_at", _ts, nullable=False),
    Column("expires_at", _ts, nullable=False),
    Column("accepted_at", _ts),
    Column("accepted_by", _uuid),
    Column("delivery_state", Text, nullable=False),
    Column("delivery_attempts", Integer, nullable=False),
    Column("delivery_error", Text),
    Column("delivered_at", _ts),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("api_key_id", _uuid, primary_key=True),
    Column("idempotency_key", Text, primary_key=True),
    Column("request_hash", LargeBinary, nullable=False),
    Column("status", Integer),
    Column("response", LargeBinary),
    Column("created_at", _ts, nullable=False, server_default=FetchedValue()),
)

org_domain_verifications = Table(
    "org_domain_verifications",
    metadata,
    Column("org_id", _uuid, primary_key=True),
    Column("domain", Text, primary_key=True),
    Column("token", Text, nullable=False, server_default=FetchedValue()),
    Column("state", Text, nullable=False, server_default=FetchedValue()),
    Column("created_at", _ts, nullable=False, server_default=FetchedValue()),
    Column("verified_at", _ts),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("api_key_id", _uuid, primary_key=True, server_default=FetchedValue()),
    Column("kind", Text, nullable=False),
    Column("org_id", _uuid),
    Column("user_id", _uuid),
    Column("name", Text, nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("permissions", _texts, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("created_by", _uuid),
    Column("created_at", _ts, nullable=False),
    Column("expires_at", _ts),
    Column("last_used_at", _ts),
    Column("archived_at", _ts),
)

feature_flags = Table(
    "feature_flags",
    metadata,
    Column("org_id", _uuid, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("value", JSONB),
    Column("updated_at", _ts, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", BigInteger, primary_key=True),
    Column("org_id", _uuid),
    Column("actor_user_id", _uuid),
    Column("actor_kind", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target_type", Text),
    Column("target_id", Text),
    Column("metadata", JSONB, nullable=False),
    Column("occurred_at", _ts, nullable=False),
)
