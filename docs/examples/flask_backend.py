#!/usr/bin/env python3
"""A Flask backend that keeps its business routes and leaves the logins to Portcullis.

Portcullis does everything Flask-Login, Flask-WTF and Flask-JWT-Extended did (accounts,
sessions, CSRF, tokens). This app only checks, on each protected request, the access token in
``Authorization: Bearer <token>`` against the public keys Portcullis publishes
(``/.well-known/jwks.json``), with the ``JwksVerifier`` of ``verify_with_jwks.py`` beside this
file. No secret is shared and Portcullis is not called per request.

    python3 -m pip install flask 'pyjwt[crypto]>=2.8'
    PORTCULLIS_URL=http://127.0.0.1:8000 python3 docs/examples/flask_backend.py

It listens on 127.0.0.1:$PORT (default 5000; ``PORT=0`` picks a free port, which the
"Running on" line names). ``PORTCULLIS_AUDIENCE`` and ``PORTCULLIS_ISSUER`` (both default
``portcullis``) are the ``token.audience`` and ``token.issuer`` Portcullis is configured with.

    GET /api/orders    protected: 200 {"user_id", "roles", "orders"}, or 401 problem+json
    GET /api/ping      public:    200 {"ping": "pong!"}

A browser app gets its token from Portcullis (``POST /auth/login``, then ``POST /auth/refresh``
when it expires; the JS SDK's ``authFetch`` does both) and sends it here. Where nginx sits in
front of both, ``auth_request`` is the other way: see docs/moving-from-flask.md.
"""

from __future__ import annotations

import os
from functools import wraps
from typing import Any, Callable

import jwt
from flask import Flask, Response, g, jsonify, request

from verify_with_jwks import JwksVerifier


def create_app(portcullis_url: str) -> Flask:
    app = Flask(__name__)
    # One verifier for the life of the process: its JWKS cache is shared by every request.
    verifier = JwksVerifier(
        portcullis_url,
        audience=os.environ.get("PORTCULLIS_AUDIENCE", "portcullis"),
        issuer=os.environ.get("PORTCULLIS_ISSUER", "portcullis"),
    )

    def unauthorized(detail: str) -> Response:
        # RFC 9457 problem+json, like Portcullis's own answers; never a redirect to a login page.
        response = jsonify({"title": "Unauthorized", "status": 401, "detail": detail, "code": "unauthenticated"})
        response.status_code = 401
        response.mimetype = "application/problem+json"
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    def token_required(view: Callable[..., Any]) -> Callable[..., Any]:
        """What ``@jwt_required()`` was: the verified claims end up in ``g.claims``."""

        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return unauthorized("send the access token as Authorization: Bearer <token>")
            try:
                g.claims = verifier.verify(token.strip())
            except jwt.PyJWTError as e:
                return unauthorized(f"invalid token: {e}")
            except (OSError, ValueError):
                # The keys could not be read: refuse, never let the request through.
                return unauthorized("the token cannot be checked right now")
            return view(*args, **kwargs)

        return wrapper

    @app.get("/api/ping")
    def ping() -> Response:
        return jsonify({"ping": "pong!"})

    @app.get("/api/orders")
    @token_required
    def orders() -> Response:
        # `sub` is the user's id in Portcullis (what get_jwt_identity() returned before).
        return jsonify({"user_id": g.claims["sub"], "roles": g.claims.get("roles", []), "orders": []})

    return app


if __name__ == "__main__":
    create_app(os.environ.get("PORTCULLIS_URL", "http://127.0.0.1:8000")).run(
        host="127.0.0.1", port=int(os.environ.get("PORT", "5000"))
    )
