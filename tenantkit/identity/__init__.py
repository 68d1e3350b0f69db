"""Identity from any provider: provider ids to tenantkit ids, and syncing from the provider.

- `resolver`: the seam: `IdentityResolver` and `ResolvingVerifier` (a `Verifier`
  for the web adapters) map a verified principal's provider ids to tenantkit's,
  through `user_identities` and `orgs.external_id`, cached (`cache.IdCache`);
  opt-in just-in-time provisioning of unknown users;
- `tenantkit.identity.webhooks`: verified inbound webhooks (PropelAuth via Svix,
  WorkOS) that keep orgs, users and memberships in step with the provider.

Needs SQLAlchemy (a service-role engine for lookups); imports no web framework.
"""

from tenantkit.identity._cache import IdCache
from tenantkit.identity._resolver import IdentityResolver, ResolvingVerifier, external_ids

__all__ = ["IdCache", "IdentityResolver", "ResolvingVerifier", "external_ids"]
