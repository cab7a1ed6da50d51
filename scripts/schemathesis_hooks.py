"""Schemathesis hooks for scripts/schemathesis (loaded through SCHEMATHESIS_HOOKS).

How the cases authenticate, from SCHEMATHESIS_PORTCULLIS_AUTH (one pass of the script each):
  `anonymous`  nothing: no cookie, no token.
  `csrf`       a browser that has loaded a page but not logged in: the CSRF nonce cookie from
               GET /api/csrf and its token in `X-CSRFToken` (so login and register get past
               the CSRF check and their bodies are what is tested).
  `session`    GET /api/csrf, then POST /api/login: the session and CSRF cookies, and the token
               in `X-CSRFToken`.
  `bearer`     POST /auth/login: `Authorization: Bearer`, the refresh cookie and its
               double-submit value in `X-CSRF-TOKEN` (for /auth/refresh and /auth/logout).
Operations under /api/admin run as the admin account, every other one as the member account.

Logins the run itself ends (logout, revoke-others, revoke-sessions, deleting the current
session, reauth's new session id, a refresh token used twice): Schemathesis's reactive
re-authentication (`retry_on=[401]`) drops the cached login at the 401, logs in again through
`get` below and replays the request once.

The one change that would end a login for good is an admin disabling or deleting the member
account (an account cannot disable or delete itself: that is a 409, and stays tested): such a
PATCH or DELETE is sent to an id that names no one instead (`before_call`). Generated path
ids are random, so the fuzzing phase also tries the ids that exist (the two accounts', the
current session's, the `admin` role) through `flatmap_path_parameters`.

The check `problem_json_has_code`: every `application/problem+json` body is a JSON object with
a non-empty string `code` (the SDK and the SPA key their messages on it).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import uuid

import requests
from hypothesis import strategies as st

import schemathesis
from schemathesis.core.transport import USER_AGENT

BASE_URL = os.environ.get("SCHEMATHESIS_PORTCULLIS_URL", "").rstrip("/")
AUTH = os.environ.get("SCHEMATHESIS_PORTCULLIS_AUTH", "anonymous")
if AUTH not in ("anonymous", "csrf", "session", "bearer"):
    raise SystemExit(f"schemathesis_hooks: SCHEMATHESIS_PORTCULLIS_AUTH={AUTH!r}: anonymous, csrf, session or bearer")
ACCOUNTS = {
    "member": (
        os.environ.get("SCHEMATHESIS_PORTCULLIS_MEMBER", ""),
        os.environ.get("SCHEMATHESIS_PORTCULLIS_MEMBER_PASSWORD", ""),
    ),
    "admin": (
        os.environ.get("SCHEMATHESIS_PORTCULLIS_ADMIN", ""),
        os.environ.get("SCHEMATHESIS_PORTCULLIS_ADMIN_PASSWORD", ""),
    ),
}
# An id that names no account.
NOBODY = str(uuid.UUID(int=0))

_lock = threading.Lock()
# Account ids, and the id of each identity's latest session (updated at every login).
ids: dict[str, str] = {}
sessions: dict[str, str] = {}
stats = {"logins": 0, "kept_off_member": 0}


def identity(operation) -> str:
    return "admin" if operation.path.startswith("/api/admin") else "member"


def _client() -> requests.Session:
    http = requests.Session()
    # The same user agent as the fuzzed requests, so session protection sees one client and the
    # login stays fresh (the `Fresh` routes are then reachable).
    http.headers["User-Agent"] = USER_AGENT
    return http


def _ok(response: requests.Response, what: str) -> dict:
    if response.status_code != 200:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")
    return response.json()


def _csrf(http: requests.Session) -> str:
    return _ok(http.get(f"{BASE_URL}/api/csrf", timeout=10), "GET /api/csrf")["csrf_token"]


def login(who: str) -> dict:
    """What every case of `who` carries in this pass: cookies and headers."""
    http = _client()
    if AUTH == "csrf":
        headers = {"X-CSRFToken": _csrf(http)}
        return {"cookies": requests.utils.dict_from_cookiejar(http.cookies), "headers": headers}
    username, password = ACCOUNTS[who]
    if not username or not password:
        raise RuntimeError(f"no credentials for the {who} account in the environment")
    credentials = {"username": username, "password": password}
    if AUTH == "session":
        headers = {"X-CSRFToken": _csrf(http)}
        body = _ok(http.post(f"{BASE_URL}/api/login", json=credentials, headers=headers, timeout=30), "POST /api/login")
        if body.get("login") is not True:
            raise RuntimeError(f"POST /api/login: {body}")
    else:
        body = _ok(http.post(f"{BASE_URL}/auth/login", json=credentials, timeout=30), "POST /auth/login")
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        refresh_csrf = http.cookies.get("csrf_refresh_token")
        if refresh_csrf:
            headers["X-CSRF-TOKEN"] = refresh_csrf
    me = _ok(http.get(f"{BASE_URL}/api/me", headers=headers, timeout=10), "GET /api/me")
    with _lock:
        ids[who] = str(me["id"])
        sessions[who] = str(me["session"]["id"])
        stats["logins"] += 1
    return {"cookies": requests.utils.dict_from_cookiejar(http.cookies), "headers": headers}


if AUTH != "anonymous":
    # A CSRF token alone is not a login: a 401 then is the answer, not an expired credential.
    retry_on = [] if AUTH == "csrf" else [401]

    @schemathesis.auth(cache_by_key=lambda case, ctx: identity(ctx.operation), retry_on=retry_on)
    class PortcullisLogin:
        def get(self, case, ctx):
            return login(identity(ctx.operation))

        def set(self, case, data, ctx):
            case.cookies = {**(case.cookies or {}), **data["cookies"]}
            case.headers = {**(case.headers or {}), **data["headers"]}

    if AUTH in ("session", "bearer"):
        # Known before the first case is generated, for flatmap_path_parameters.
        for who in ACCOUNTS:
            login(who)


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    """Besides the generated value, the ids that exist: the generated ones never do."""
    operation = context.operation
    if operation is None or not path_parameters:
        return st.just(path_parameters)
    known: list[dict] = []
    with _lock:
        if "id" in path_parameters and operation.path.startswith("/api/admin/users/"):
            known = [{**path_parameters, "id": i} for i in ids.values()]
        elif "id" in path_parameters and operation.path.startswith("/api/sessions/"):
            known = [{**path_parameters, "id": s} for s in sessions.values()]
        elif "name" in path_parameters and operation.path.startswith("/api/admin/roles/"):
            known = [{**path_parameters, "name": "admin"}]
    return st.sampled_from([path_parameters, *known])


@schemathesis.hook
def before_call(context, case, kwargs):
    """Keeps the member account usable: an admin never disables or deletes it."""
    if case.operation.path != "/api/admin/users/{id}" or case.method.upper() not in ("PATCH", "DELETE"):
        return
    member = ids.get("member")
    if member is not None and case.path_parameters and str(case.path_parameters.get("id")) == member:
        case.path_parameters["id"] = NOBODY
        with _lock:
            stats["kept_off_member"] += 1


@schemathesis.check
def problem_json_has_code(ctx, response, case):
    """A problem+json body is a JSON object with a non-empty string `code`."""
    content_type = ",".join(response.headers.get("content-type", []))
    if content_type.split(";")[0].strip().lower() != "application/problem+json":
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError("application/problem+json body that is not JSON") from None
    if not isinstance(body, dict):
        raise AssertionError(f"application/problem+json body that is not an object: {body!r:.200}")
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise AssertionError(f"application/problem+json body without a `code`: {body!r:.300}")
    return True


@atexit.register
def _summary() -> None:
    if AUTH != "anonymous":
        print(
            f"schemathesis_hooks: {AUTH}: {stats['logins']} logins by the hook, "
            f"{stats['kept_off_member']} admin changes kept off the member account",
            file=sys.stderr,
        )
