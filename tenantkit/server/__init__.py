"""The PropelAuth-compatible backend REST API over `tenantkit.orgs` (FastAPI).

    from tenantkit.server import create_app
    app = create_app(sqlalchemy.create_engine(SERVICE_ROLE_URL), issuer=issuer)

`tenantkit serve` runs it (against an embedded PostgreSQL by default).
"""

from tenantkit.server._app import create_app
from tenantkit.server._ratelimit import RateLimit

__all__ = ["RateLimit", "create_app"]
