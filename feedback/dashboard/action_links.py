"""Action links from chat and email: a GET shows what would happen, only the POST acts.

Link scanners and chat previews fetch every link they see, so the GET must change
nothing. The POST acts as the editor the link was sent to, and is refused if that
editor has been disabled or no longer has the report's site.
"""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from feedback.dashboard.auth import check_csrf, csrf_token, services
from feedback.dashboard.queue import _announce, present
from feedback.notify.links import LINK_ACTIONS, LinkError, read_action_token
from feedback.store import actions as store_actions
from feedback.store.queue import report_by_id
from feedback.store.users import User, user_by_id

LOST_ACCESS = (
    "The editor this link was sent to no longer has access to this report's site, "
    "so the link cannot act for them."
)


async def _resolve(request: Request) -> tuple[str, User, dict]:
    svc = services(request)
    action = request.path_params["action"]
    if action not in LINK_ACTIONS:
        raise HTTPException(404)
    try:
        report_id, user_id = read_action_token(svc.settings, action, request.path_params["token"])
    except LinkError as exc:
        raise HTTPException(400, str(exc)) from None
    user = await user_by_id(svc.store, user_id)
    if user is None or user.disabled:
        raise HTTPException(403, LOST_ACCESS)
    row = await report_by_id(svc.store, report_id, None)
    if row is None:
        raise HTTPException(404)
    if not user.may_see(row["site_id"]):
        raise HTTPException(403, LOST_ACCESS)
    return action, user, present(row, time.time())


def _page(request: Request, action: str, user: User, report: dict, done: str = "") -> Response:
    return services(request).templates.TemplateResponse(
        request,
        "dashboard/confirm_action.html",
        {
            "csrf": csrf_token(request),
            "action": action,
            "label": LINK_ACTIONS[action],
            "acting": user,
            "report": report,
            "done": done,
        },
        headers={"X-Robots-Tag": "noindex"},
    )


async def confirm_page(request: Request) -> Response:
    action, user, report = await _resolve(request)
    return _page(request, action, user, report)


async def confirm_post(request: Request) -> Response:
    await check_csrf(request)
    action, user, report = await _resolve(request)
    svc = services(request)
    now = time.time()
    outcome = await store_actions.change_status(
        svc.store, [report["id"]], action, user.id, user.visible_sites(), now
    )
    request.state.user = user
    _announce(request, outcome.changed)
    if outcome.changed:
        done = f"Report #{report['id']} is marked {LINK_ACTIONS[action].lower()}."
    elif outcome.refused:
        done = next(iter(outcome.refused.values()))
    else:
        done = f"Report #{report['id']} was already marked {LINK_ACTIONS[action].lower()}."
    _, _, report = await _resolve(request)
    return _page(request, action, user, report, done)
