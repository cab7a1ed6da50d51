"""Schemathesis hooks for scripts/schemathesis (loaded through SCHEMATHESIS_HOOKS).

How the cases authenticate, from SCHEMATHESIS_PORTCULLIS_AUTH (one pass of the script each):
  `anonymous`  nothing: no cookie, no token.
  `csrf`       a browser that has loaded a page but not logged in: the CSRF nonce cookie from
               GET /api/csrf and its token in `X-CSRFToken` (so login and register get past
               the CSRF check and their bodies are what is tested).
  `session`    GET /api/csrf, then POST /api/login: the session and CSRF cookies, and the token
               in `X-CSRFToken`.
  `bearer`     POST /auth/login: `Authorization: Bearer`, the refresh cookie and its
               double-submit value in `X-CSRF-TOKEN` (for /auth/refresh and /auth/logout);
               not the access-token cookie that /auth/login also sets.
Operations under /api/admin run as the admin account, every other one as the member account.

Each identity's credentials are kept as a browser (or the SDK) keeps them: a cookie an answer
sets or clears, and the access token that /auth/refresh or /api/reauth answers, replace what
the next case carries (`after_call`). Logins the run itself ends (logout, revoke-others,
revoke-sessions, deleting the current session, a refresh token used twice): at a 401 that says
so (`unauthenticated`, `token_*`, `refresh_reused`) Schemathesis's reactive re-authentication
(`retry_on=[401]`) logs in again through `get` below and replays the request once, and the
hook logs in again before the next case in any event (Schemathesis stops replaying an
operation once a replay was a 401 too, e.g. a wrong password, but a later case of it may still
find its login ended).

The one change that would end a login for good is an admin disabling or deleting the member
account (an account cannot disable or delete itself: that is a 409, and stays tested): such a
PATCH or DELETE is sent to an id that names no one instead (`before_call`). The other is a
password change: the run is never given the right current password for POST /api/password
(a change it made succeed could not always be followed, and every later login of the pass
would fail), so that operation's 200 is left to the integration tests; should one succeed
anyway, its new password is what the hook logs in with (`after_call`).

Generated values rarely name anything that exists, so the fuzzing phase also tries the ids that
do (the two accounts', the current sessions', the `admin` role; `flatmap_path_parameters`) and
the account's right password at POST /api/reauth (`flatmap_body`).

The check `problem_json_has_code`: every `application/problem+json` body is a JSON object with
a non-empty string `code` (the SDK and the SPA key their messages on it).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import urllib.parse
import uuid
from http.cookies import CookieError, SimpleCookie

import requests
from hypothesis import strategies as st

import schemathesis
from schemathesis.core.transport import USER_AGENT

BASE_URL = os.environ.get("SCHEMATHESIS_PORTCULLIS_URL", "").rstrip("/")
AUTH = os.environ.get("SCHEMATHESIS_PORTCULLIS_AUTH", "anonymous")
if AUTH not in ("anonymous", "csrf", "session", "bearer"):
    raise SystemExit(f"schemathesis_hooks: SCHEMATHESIS_PORTCULLIS_AUTH={AUTH!r}: anonymous, csrf, session or bearer")
# {"member": [username, password], "admin": [...]}: written by scripts/schemathesis, and by
# this file when the run changes a password, so that the next pass logs in with it.
ACCOUNTS_FILE = os.environ.get("SCHEMATHESIS_PORTCULLIS_ACCOUNTS", "")
ACCOUNTS: dict[str, tuple[str, str]] = {"member": ("", ""), "admin": ("", "")}
if ACCOUNTS_FILE:
    with open(ACCOUNTS_FILE, encoding="utf-8") as f:
        ACCOUNTS.update({who: (pair[0], pair[1]) for who, pair in json.load(f).items()})
# An id that names no account.
NOBODY = str(uuid.UUID(int=0))

_lock = threading.Lock()
# Account ids, and the id of each identity's latest session (updated at every login).
ids: dict[str, str] = {}
sessions: dict[str, str] = {}
# 401 codes that say the credentials themselves are gone (not a wrong password, not a stale
# login that step-up would cure).
ENDED = {"unauthenticated", "token_expired", "token_invalid", "token_revoked", "refresh_reused"}
# Each identity's credentials as a client holding them would have them now.
jars: dict[str, dict] = {}
stats = {"logins": 0, "followed": 0, "kept_off_member": 0, "password_changes": 0}


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
        return _keep(who, http, headers)
    username, password = ACCOUNTS[who]
    if not username or not password:
        raise RuntimeError(f"no credentials for the {who} account (SCHEMATHESIS_PORTCULLIS_ACCOUNTS)")
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
    return _keep(who, http, headers)


def _kept(cookie: str) -> bool:
    """The bearer pass authenticates by the header alone: /auth/login's access-token cookie
    (token location `cookies`) would let a case the run sends without the header pass anyway."""
    return AUTH != "bearer" or cookie not in ("access_token_cookie", "csrf_access_token")


def _problem_code(response) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _keep(who: str, http: requests.Session, headers: dict[str, str]) -> dict:
    cookies = {k: v for k, v in requests.utils.dict_from_cookiejar(http.cookies).items() if _kept(k)}
    data = {"cookies": cookies, "headers": headers}
    with _lock:
        jars[who] = data
    return data


def _follow(who: str, case, response) -> None:
    """What a browser or the SDK keeps from an answer: new cookies, a new access token."""
    with _lock:
        jar = jars.get(who)
        if jar is None:
            return
        changed = False
        for line in response.headers.get("set-cookie", []):
            cookie = SimpleCookie()
            try:
                cookie.load(line)
            except CookieError:
                continue
            for name, morsel in cookie.items():
                if not _kept(name):
                    continue
                if morsel["max-age"] == "0" or (morsel["expires"] and "1970" in morsel["expires"]):
                    changed |= jar["cookies"].pop(name, None) is not None
                elif jar["cookies"].get(name) != morsel.value:
                    jar["cookies"][name] = morsel.value
                    changed = True
        if AUTH == "bearer" and 200 <= response.status_code < 300:
            try:
                body = json.loads(response.content)
            except ValueError:
                body = None
            token = body.get("access_token") if isinstance(body, dict) else None
            if isinstance(token, str) and token:
                jar["headers"]["Authorization"] = f"Bearer {token}"
                changed = True
            if "csrf_refresh_token" in jar["cookies"]:
                jar["headers"]["X-CSRF-TOKEN"] = jar["cookies"]["csrf_refresh_token"]
        if changed:
            stats["followed"] += 1


if AUTH != "anonymous":
    # A CSRF token alone is not a login: a 401 then is the answer, not an expired credential.
    retry_on = [] if AUTH == "csrf" else [401]

    @schemathesis.auth(cache_by_key=lambda case, ctx: identity(ctx.operation), retry_on=retry_on)
    class PortcullisLogin:
        def get(self, case, ctx):
            return login(identity(ctx.operation))

        def set(self, case, data, ctx):
            # The identity's credentials as they are now: the latest login, with what later
            # answers rotated (see after_call); a new login when the server ended that one.
            who = identity(ctx.operation)
            current = jars.get(who, data)
            if current.get("ended"):
                current = login(who)
            case.cookies = {**(case.cookies or {}), **current["cookies"]}
            case.headers = {**(case.headers or {}), **current["headers"]}

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


# Where the account's own password makes the difference between 401 and the operation's answer.
_PASSWORD_FIELDS = {("POST", "/api/reauth"): "password"}


@schemathesis.hook
def flatmap_body(context, body):
    """Besides the generated body, one with the account's right password."""
    operation = context.operation
    field = _PASSWORD_FIELDS.get((operation.method.upper(), operation.path)) if operation else None
    if field is None or AUTH not in ("session", "bearer") or not isinstance(body, dict):
        return st.just(body)
    return st.sampled_from([body, {**body, field: ACCOUNTS[identity(operation)][1]}])


@schemathesis.hook
def after_call(context, case, response):
    """Keeps the identity's credentials as a client would: rotated cookies and tokens, and the
    password after a change the run made succeed."""
    # (A CSRF-only pass stays logged out: a registration that logs in is not followed.)
    if AUTH not in ("session", "bearer"):
        return
    who = identity(case.operation)
    # A password change that succeeded is followed whatever credentials the case carried (the
    # run may have replaced the hook's CSRF header with one of its own while the session or
    # token still let it through): else every later login of the pass would fail.
    if (case.method.upper(), case.operation.path) == ("POST", "/api/password") and response.status_code == 200:
        new_password = _field(case.body, "new_password")
        if new_password is not None:
            with _lock:
                ACCOUNTS[who] = (ACCOUNTS[who][0], new_password)
                stats["password_changes"] += 1
                if ACCOUNTS_FILE:
                    with open(ACCOUNTS_FILE, "w", encoding="utf-8") as f:
                        json.dump(ACCOUNTS, f)
    if not case._has_explicit_auth:
        return
    if response.status_code == 401 and _problem_code(response) in ENDED:
        with _lock:
            if who in jars:
                jars[who]["ended"] = True
        return
    _follow(who, case, response)


def _field(body, name: str):
    """A string field of a JSON object body or of a form (sent as a dict or as its text)."""
    if isinstance(body, (str, bytes)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        values = urllib.parse.parse_qs(text, keep_blank_values=True).get(name)
        return values[0] if values else None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _same_id(given, member: str) -> bool:
    """Whether a path id names the member: the server reads any form of a UUID (upper case, no
    dashes, braces, `urn:uuid:`), so the same spellings are caught here."""
    try:
        return uuid.UUID(str(given).strip()) == uuid.UUID(member)
    except ValueError:
        return False


@schemathesis.hook
def before_call(context, case, kwargs):
    """Keeps the member account usable: an admin never disables or deletes it."""
    if case.operation.path != "/api/admin/users/{id}" or case.method.upper() not in ("PATCH", "DELETE"):
        return
    member = ids.get("member")
    if member is not None and case.path_parameters and _same_id(case.path_parameters.get("id"), member):
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
    if AUTH in ("session", "bearer"):
        print(
            f"schemathesis_hooks: {AUTH}: {stats['logins']} logins by the hook, "
            f"{stats['followed']} rotated cookies or tokens followed, "
            f"{stats['kept_off_member']} admin changes kept off the member account, "
            f"{stats['password_changes']} password changes followed",
            file=sys.stderr,
        )
