"""The end-user API: a FastAPI router where the database, not this code, decides.

Every operation opens one transaction on the app-role engine, bound (through
`tenant_context`, tenantkit's own binding) to the verified end user and the org
in the path, and calls `tenantkit.orgs.Management` there. What the user may see
and change is decided by the policies, column privileges and SECURITY DEFINER
doors on tenantkit's own tables; this module checks no role or permission. A
refusal by the database is a 403 with its reason, a row the user cannot see a
404, bad input a 400.

Operations that name no org (my orgs, create an org, accept or decline an
invite) bind the user to `NO_ORG`, the nil UUID: no org has that id (the
database draws org ids), so the binding carries the user alone and no org's
rows are visible.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations,
# and the dependency aliases below are local to `create_router`.
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, TypeVar

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    Path,
    Query,
    Request,
    Response,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from starlette.exceptions import HTTPException

from tenantkit.context import UUID_ANY_CASE, TenantContext, tenant_context
from tenantkit.errors import InvalidField, NotFound, TenantkitError
from tenantkit.orgs import CreatedInvite, CursorRequest, Management, PageRequest
from tenantkit.selfservice import _wire as w
from tenantkit.selfservice._delivery import (
    ConsoleInviteSender,
    InviteMessage,
    InviteSender,
    accept_link,
    send_with_retry,
)
from tenantkit.tokens import Principal, TokenVerifier
from tenantkit.web.asgi import request_auth
from tenantkit.web.fastapi import TenantKit, TenantkitHTTPException

__all__ = ["NO_ORG", "SelfService", "create_router"]

T = TypeVar("T")

#: The org an org-less operation binds: none has this id.
NO_ORG: Final = str(uuid.UUID(int=0))
DEFAULT_ACCEPT_URL: Final = "http://localhost:8000/invites/accept?token={token}"

_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": w.ErrorBody, "description": why} for status, why in (
        (400, "bad input"), (401, "no valid access token"),
        (403, "the database refused this for the current user"),
        (404, "not found, or not visible to the current user"),
        (409, "conflicts with the current state"), (426, "turned off for this project"),
    )
}


def _error(error: TenantkitError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.to_dict(), status_code=error.status_code, headers=headers)


class _Route(APIRoute):
    """A route that answers tenantkit's errors itself, so the router needs no app handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except TenantkitHTTPException as exc:
                return _error(exc.error, dict(exc.headers or {}))
            except TenantkitError as exc:
                return _error(exc)
            except HTTPException as exc:  # Starlette's, e.g. a body that is not UTF-8 JSON
                return JSONResponse({"error": "invalid_request", "message": str(exc.detail)},
                                    status_code=exc.status_code, headers=exc.headers)
            except RequestValidationError as exc:
                fields = {".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body":
                          str(e.get("msg", "invalid")) for e in exc.errors()}
                return _error(InvalidField(fields))

        return route


OrgId = Annotated[str, Path(pattern=f"^{UUID_ANY_CASE}$")]
ItemId = Annotated[str, Path(pattern=f"^{UUID_ANY_CASE}$")]
PageSize = Annotated[int, Query(ge=1, le=100)]
PageNumber = Annotated[int, Query(ge=0, le=100_000)]
#: A cursor a listing gave (its `list_metadata`): the page before or after it.
Cursor = Annotated[str | None, Query(max_length=500)]


class SelfService:
    """The end-user API's state: the verifier, the app-role engine, the invite sender."""

    def __init__(self, verifier: "TokenVerifier | TenantKit", engine: Engine, *,
                 sender: InviteSender | None = None,
                 accept_url: str = DEFAULT_ACCEPT_URL,
                 send_attempts: int = 3, send_backoff: float = 0.5) -> None:
        self.tk = verifier if isinstance(verifier, TenantKit) else TenantKit(verifier)
        self.engine = engine
        self.sender: InviteSender = sender or ConsoleInviteSender()
        self.accept_url = accept_url
        self.send_attempts, self.send_backoff = send_attempts, send_backoff

    def run(self, user_id: str, org_id: str, work: "Callable[[Management], T]") -> T:
        """`work` in one transaction bound to `user_id` in `org_id`: RLS decides.

        An org the database does not show the user (`current_org()` is empty
        unless they are an active member right now) is a 404 before any work.
        """
        with tenant_context(TenantContext(user_id, org_id)), self.engine.begin() as conn:
            management = Management(conn)
            # A verified request is activity: last_active_at (and the LAST_ACTIVE
            # orderings of the backend API) reflect it.
            management.users.touch_current()
            if org_id != NO_ORG:
                management.orgs.fetch(org_id)
            return work(management)

    def deliver(self, user_id: str, created: CreatedInvite) -> None:
        """Send a committed invite, recording each attempt in its own bound transaction."""
        invite = created.invite
        message = InviteMessage(
            to=invite.email, org_name=invite.org_name, role=invite.role,
            inviter_email=invite.inviter_email,
            accept_url=accept_link(self.accept_url, created.token),
            expires_at=invite.expires_at.astimezone(UTC))

        def record(sent: bool, error: str | None) -> None:
            self.run(user_id, invite.org_id, lambda m: m.invites.record_delivery(
                invite.invite_id, sent=sent, error=error))

        send_with_retry(self.sender, message, attempts=self.send_attempts,
                        backoff=self.send_backoff, record=record)


def create_router(
    verifier: TokenVerifier | TenantKit,
    engine: Engine,
    *,
    sender: InviteSender | None = None,
    accept_url: str = DEFAULT_ACCEPT_URL,
    prefix: str = "",
    send_attempts: int = 3,
    send_backoff: float = 0.5,
) -> APIRouter:
    """The end-user API as a router to `include_router` in the app.

    verifier: the app's `TokenVerifier` (or its `TenantKit`); with
        `TenantMiddleware` in front, its verified principal is reused.
    engine: the **app role's** engine from `tenantkit.create_engine`.
    sender: delivers invites after commit (default: the console).
    accept_url: the frontend's accept page; `{token}` is replaced by the token.
    """
    s = SelfService(verifier, engine, sender=sender, accept_url=accept_url,
                    send_attempts=send_attempts, send_backoff=send_backoff)
    router = APIRouter(prefix=prefix, route_class=_Route, responses=_ERRORS,
                       tags=["self-service"])

    async def user(principal: Principal = Depends(s.tk.require_user)) -> str:  # noqa: B008
        return principal.user_id

    def org(request: Request, org_id: OrgId) -> str:
        wanted = org_id.lower()
        found = request_auth(request.scope)
        # Never bind one org while TenantMiddleware bound (and the app sees) another.
        if found is not None and found.org_id is not None and found.org_id != wanted:
            raise InvalidField("org_id", "names another org than the request's other sources")
        return wanted

    Me = Annotated[str, Depends(user)]
    InOrg = Annotated[str, Depends(org)]

    # --- my orgs ------------------------------------------------------------------

    @router.get("/orgs", response_model=w.MyOrgs, summary="The orgs I belong to")
    def my_orgs(me: Me) -> w.MyOrgs:
        mine = s.run(me, NO_ORG, lambda m: m.members.of_current_user())
        return w.MyOrgs(orgs=[w.MyOrg.of(o) for o in mine])

    @router.post("/orgs/{org_id}/switch", response_model=w.MyOrg,
                 summary="Switch the active org (the database confirms the membership)")
    def switch_org(me: Me, org_id: InOrg) -> w.MyOrg:
        mine = s.run(me, org_id, lambda m: m.members.of_current_user())
        # Active only: the frontend then sends this org with every request, and an
        # inactive membership binds nothing.
        for o in mine:
            if o.org_id == org_id and o.status == "active":
                return w.MyOrg.of(o)
        raise NotFound("org not found")

    @router.post("/orgs", response_model=w.OrgOut, status_code=201,
                 summary="Create an org (project settings permitting)")
    def create_org(me: Me, body: w.CreateOrg) -> w.OrgOut:
        return w.OrgOut.of(s.run(me, NO_ORG, lambda m: m.orgs.create(
            body.name, metadata=body.metadata)))

    # --- org settings --------------------------------------------------------------

    @router.get("/orgs/{org_id}", response_model=w.OrgOut, summary="An org's settings")
    def get_org(me: Me, org_id: InOrg) -> w.OrgOut:
        return w.OrgOut.of(s.run(me, org_id, lambda m: m.orgs.fetch(org_id)))

    @router.patch("/orgs/{org_id}", response_model=w.OrgOut, summary="Update an org's settings")
    def update_org(me: Me, org_id: InOrg, body: w.UpdateOrg) -> w.OrgOut:
        changes = body.model_dump(exclude_unset=True)
        if "require_2fa_by" in changes and changes["require_2fa_by"] is not None:
            changes["require_2fa_by"] = datetime.fromtimestamp(changes["require_2fa_by"], UTC)
        return w.OrgOut.of(s.run(me, org_id, lambda m: m.orgs.update(org_id, **changes)))

    @router.get("/orgs/{org_id}/domains", response_model=w.DomainsOut,
                summary="Domains asked for: pending until their DNS TXT record shows")
    def list_domains(me: Me, org_id: InOrg) -> w.DomainsOut:
        found = s.run(me, org_id, lambda m: m.domains.verifications(org_id))
        return w.DomainsOut(domains=[w.DomainOut.of(d) for d in found])

    @router.post("/orgs/{org_id}/domains", response_model=w.DomainOut, status_code=201,
                 summary="Ask for a domain (pending; the backend verifies it by DNS)")
    def add_domain(me: Me, org_id: InOrg, body: w.DomainIn) -> w.DomainOut:
        return w.DomainOut.of(s.run(me, org_id, lambda m: m.domains.request_verification(
            org_id, body.domain)))

    @router.delete("/orgs/{org_id}/domains/{domain}", status_code=204,
                   summary="Withdraw a pending domain, or remove a verified one")
    def remove_domain(me: Me, org_id: InOrg, domain: Annotated[str, Path(max_length=253)]
                      ) -> Response:
        def work(m: Management) -> None:
            try:
                m.domains.withdraw(org_id, domain)
            except NotFound:  # not pending (for this user): one of the org's domains?
                m.domains.remove(org_id, domain)
        s.run(me, org_id, work)
        return Response(status_code=204)

    # --- members -------------------------------------------------------------------

    @router.get("/orgs/{org_id}/members", response_model=w.MembersPage,
                summary="Members (by page number, or by cursor: before / after)")
    def list_members(me: Me, org_id: InOrg, page_size: PageSize = 10,
                     page_number: PageNumber = 0,
                     role: Annotated[str | None, Query(max_length=200)] = None,
                     before: Cursor = None, after: Cursor = None) -> w.MembersPage:
        cursor = None if before is None and after is None else CursorRequest(
            page_size, after=after, before=before)

        def work(m: Management) -> Any:
            return m.members.list(org_id, page=PageRequest(page_size, page_number), role=role,
                                  cursor=cursor)
        page = s.run(me, org_id, work)
        return w.MembersPage(
            members=[w.MemberOut.of(x) for x in page.items], total_members=page.total,
            current_page=page.page_number, page_size=page.page_size,
            has_more_results=page.after is not None if cursor else page.has_more,
            list_metadata=w.ListMetadata(before=page.before, after=page.after))

    @router.get("/orgs/{org_id}/members/{user_id}", response_model=w.MemberOut,
                summary="One member")
    def get_member(me: Me, org_id: InOrg, user_id: ItemId) -> w.MemberOut:
        return w.MemberOut.of(s.run(me, org_id, lambda m: m.members.detail(org_id, user_id)))

    @router.put("/orgs/{org_id}/members/{user_id}/role", response_model=w.MemberOut,
                summary="Change a member's role")
    def change_role(me: Me, org_id: InOrg, user_id: ItemId, body: w.ChangeRole) -> w.MemberOut:
        def work(m: Management) -> w.MemberOut:
            m.members.change_role(org_id, user_id, body.role, body.additional_roles)
            return w.MemberOut.of(m.members.detail(org_id, user_id))
        return s.run(me, org_id, work)

    @router.delete("/orgs/{org_id}/members/{user_id}", status_code=204,
                   summary="Remove a member")
    def remove_member(me: Me, org_id: InOrg, user_id: ItemId) -> Response:
        s.run(me, org_id, lambda m: m.members.remove(org_id, user_id.lower()))
        return Response(status_code=204)

    @router.post("/orgs/{org_id}/leave", status_code=204, summary="Leave the org")
    def leave(me: Me, org_id: InOrg) -> Response:
        s.run(me, org_id, lambda m: m.members.remove(org_id, me))
        return Response(status_code=204)

    @router.post("/orgs/{org_id}/transfer_ownership", response_model=w.MemberOut,
                 summary="Give my role to another member and keep a lower one")
    def transfer_ownership(me: Me, org_id: InOrg, body: w.TransferOwnership) -> w.MemberOut:
        def work(m: Management) -> w.MemberOut:
            mine = m.members.fetch(org_id, me)
            # One transaction: the other member gets my role first (the database
            # allows granting only roles up to one's own), then I step down.
            m.members.change_role(org_id, body.user_id, mine.role)
            m.members.change_role(org_id, me, body.keep_role)
            return w.MemberOut.of(m.members.detail(org_id, body.user_id))
        return s.run(me, org_id, work)

    # --- invites -------------------------------------------------------------------

    @router.get("/orgs/{org_id}/invites", response_model=w.InvitesPage, summary="Invites")
    def list_invites(me: Me, org_id: InOrg, page_size: PageSize = 10,
                     page_number: PageNumber = 0,
                     state: Annotated[str, Query(pattern="^(pending|expired)$")] = "pending",
                     ) -> w.InvitesPage:
        def work(m: Management) -> w.InvitesPage:
            page = m.invites.list(org_id, state=state,
                                  page=PageRequest(page_size, page_number))
            return w.InvitesPage(invites=[w.InviteOut.of(i) for i in page.items],
                                 total_invites=page.total, current_page=page.page_number,
                                 page_size=page.page_size, has_more_results=page.has_more)
        return s.run(me, org_id, work)

    def _sent_later(background: BackgroundTasks, me: str, created: CreatedInvite
                    ) -> w.CreatedInviteOut:
        # After the commit: a send that fails leaves the invite, marked failed.
        background.add_task(s.deliver, me, created)
        return w.CreatedInviteOut(invite=w.InviteOut.of(created.invite))

    @router.post("/orgs/{org_id}/invites", response_model=w.CreatedInviteOut, status_code=201,
                 summary="Invite by email (the link goes to the invitee only)")
    def invite(me: Me, org_id: InOrg, body: w.CreateInvite,
               background: BackgroundTasks) -> w.CreatedInviteOut:
        created = s.run(me, org_id, lambda m: m.invites.create(
            org_id, email=body.email, role=body.role, additional_roles=body.additional_roles,
            expires_in=timedelta(seconds=body.expires_in_seconds)))
        return _sent_later(background, me, created)

    @router.post("/orgs/{org_id}/invites/{invite_id}/resend", response_model=w.CreatedInviteOut,
                 status_code=201, summary="Resend: a new link; the old one stops working")
    def resend_invite(me: Me, org_id: InOrg, invite_id: ItemId,
                      background: BackgroundTasks) -> w.CreatedInviteOut:
        created = s.run(me, org_id, lambda m: m.invites.resend(org_id, invite_id))
        return _sent_later(background, me, created)

    @router.delete("/orgs/{org_id}/invites/{invite_id}", status_code=204,
                   summary="Revoke a pending invite")
    def revoke_invite(me: Me, org_id: InOrg, invite_id: ItemId) -> Response:
        s.run(me, org_id, lambda m: m.invites.revoke_id(org_id, invite_id))
        return Response(status_code=204)

    @router.post("/invites/accept", response_model=w.Accepted,
                 summary="Accept an invite sent to me")
    def accept_invite(me: Me, body: w.TokenIn) -> w.Accepted:
        done = s.run(me, NO_ORG, lambda m: m.invites.accept(body.token))
        return w.Accepted(org_id=done.org_id, user_id=done.user_id)

    @router.post("/invites/decline", response_model=w.Declined,
                 summary="Decline an invite sent to me")
    def decline_invite(me: Me, body: w.TokenIn) -> w.Declined:
        return w.Declined(org_id=s.run(me, NO_ORG, lambda m: m.invites.decline(body.token)))

    # --- API keys ------------------------------------------------------------------

    @router.get("/orgs/{org_id}/api_keys", response_model=w.ApiKeysPage, summary="Org API keys")
    def list_api_keys(me: Me, org_id: InOrg, page_size: PageSize = 10,
                      page_number: PageNumber = 0) -> w.ApiKeysPage:
        def work(m: Management) -> Any:
            return m.api_keys.list(org_id=org_id, kind="org",
                                   page=PageRequest(page_size, page_number))
        page = s.run(me, org_id, work)
        return w.ApiKeysPage(api_keys=[w.ApiKeyOut.of(k) for k in page.items],
                             total_api_keys=page.total, current_page=page.page_number,
                             page_size=page.page_size, has_more_results=page.has_more)

    @router.post("/orgs/{org_id}/api_keys", response_model=w.CreatedApiKeyOut, status_code=201,
                 summary="Create an org API key (the secret is shown once)")
    def create_api_key(me: Me, org_id: InOrg, body: w.CreateApiKey) -> w.CreatedApiKeyOut:
        expires = (None if body.expires_at is None
                   else datetime.fromtimestamp(body.expires_at, UTC))
        created = s.run(me, org_id, lambda m: m.api_keys.create(
            kind="org", org_id=org_id, name=body.name, permissions=body.permissions,
            expires_at=expires))
        return w.CreatedApiKeyOut(api_key=w.ApiKeyOut.of(created.api_key), secret=created.secret)

    @router.delete("/orgs/{org_id}/api_keys/{api_key_id}", response_model=w.ApiKeyOut,
                   summary="Archive an org API key")
    def archive_api_key(me: Me, org_id: InOrg, api_key_id: ItemId) -> w.ApiKeyOut:
        return w.ApiKeyOut.of(s.run(me, org_id, lambda m: m.api_keys.archive(api_key_id)))

    return router
