"""Any `Verifier` (verify + verify_async) plugs into TenantMiddleware and both TenantKits."""

# No `from __future__ import annotations`: FastAPI reads the Annotated hints of the route.

import uuid
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from flask import Flask

from tenantkit import current_context
from tenantkit.errors import Unauthorized
from tenantkit.tokens import OrgMemberInfo, Principal, Verifier
from tenantkit.web import TenantMiddleware, UserAndOrgMemberInfo, path_param
from tenantkit.web.fastapi import TenantKit as FastAPIKit
from tenantkit.web.flask import TenantKit as FlaskKit

pytestmark = pytest.mark.nodb

USER, ORG = str(uuid.uuid4()), str(uuid.uuid4())


class OpaqueTokens:
    """Not a TokenVerifier: an app's own token scheme (here, one fixed opaque token)."""

    def verify(self, token: str | bytes) -> Principal:
        if token != "let-me-in":
            raise Unauthorized("token is not accepted")
        return Principal(USER, {ORG: OrgMemberInfo(ORG, "Admin")})

    async def verify_async(self, token: str | bytes) -> Principal:
        return self.verify(token)


def test_the_protocol_is_structural() -> None:
    assert isinstance(OpaqueTokens(), Verifier)
    with pytest.raises(TypeError, match="Verifier"):
        TenantMiddleware(lambda *a: None, verifier=object())  # type: ignore[arg-type]


async def test_middleware_and_fastapi_kit() -> None:
    app = FastAPI()
    kit = FastAPIKit(OpaqueTokens())
    kit.init_app(app)

    @app.get("/org/{org_id}/who")
    def who(access: Annotated[UserAndOrgMemberInfo, Depends(kit.require_org_member())]) -> Any:
        ctx = current_context()
        return {"user": access.user.user_id, "bound": None if ctx is None else ctx.org_id}

    wrapped = TenantMiddleware(app, verifier=OpaqueTokens(), org_id=path_param("/org/{org_id}"))
    for asgi in (app, wrapped):
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ok = await client.get(f"/org/{ORG}/who", headers={"Authorization": "Bearer let-me-in"})
            # The dependencies alone bind only inside kit.session; the middleware binds.
            assert ok.json() == {"user": USER, "bound": ORG if asgi is wrapped else None}
            bad = await client.get(f"/org/{ORG}/who", headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401


def test_flask_kit() -> None:
    app = Flask(__name__)
    kit = FlaskKit(app, verifier=OpaqueTokens())

    @app.get("/org/<org_id>/who")
    @kit.require_org_member()
    def who(org_id: str) -> Any:
        ctx = current_context()
        return {"bound": None if ctx is None else ctx.org_id}

    client = app.test_client()
    ok = client.get(f"/org/{ORG}/who", headers={"Authorization": "Bearer let-me-in"})
    assert ok.status_code == 200 and ok.json == {"bound": ORG}
    assert client.get(f"/org/{ORG}/who", headers={"Authorization": "Bearer x"}).status_code == 401
