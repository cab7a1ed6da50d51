#!/usr/bin/env python3
"""Verify a Portcullis access token from another service, using only the public JWKS.

Usage:

    python3 verify_with_jwks.py [--audience AUD] [--issuer ISS] [--leeway SECONDS] BASE_URL TOKEN

BASE_URL is where Portcullis answers (for example ``https://auth.example.com``); its keys are
read from ``BASE_URL/.well-known/jwks.json``. TOKEN is an access token, as ``POST /auth/login``
or ``POST /auth/refresh`` return it in ``access_token``.

On success the verified claims are printed as JSON on stdout and the exit status is 0. On any
failure (bad signature, unknown key, wrong audience or issuer, expired, not an access token,
JWKS unreachable) the reason is printed on stderr and the exit status is 1.

Requires Python 3.8+ and ``pyjwt[crypto]>=2.8`` (PyJWT with the ``cryptography`` package, which
provides Ed25519).

The rules this program follows, and that any verifier of Portcullis tokens should follow:

1. Pin the algorithm. Portcullis signs with Ed25519 (``EdDSA``); only that algorithm is
   accepted, whatever the token's header says (no ``none``, no ``HS256`` keyed with the public
   key).
2. Select the key by the token's ``kid`` among the keys of the JWKS, and use that key only for
   its own algorithm. A token without a ``kid``, or with one the JWKS does not list, is refused.
3. Check ``iss``, ``aud``, ``exp`` and ``nbf`` (with a small leeway for clock skew), and that
   ``type`` is ``access``: a token of another kind is never an access token.
4. Cache the JWKS; fetch it again when a token names an unknown ``kid`` (the server has rotated
   its key), but not more often than every few seconds, so that tokens with made-up ``kid``
   values cannot make the verifier hammer the server.

The ``JwksVerifier`` class is meant to be copied into a service and kept for the life of the
process; ``main`` shows its use from the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
from typing import Any, Dict, Optional

import jwt

# The only algorithm Portcullis's published keys are used with.
ALGORITHM = "EdDSA"
# Claims that every Portcullis access token carries and that must be present.
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti"]


class JwksVerifier:
    """Verifies Portcullis access tokens with the keys of the server's JWKS.

    The JWKS is cached for ``max_age`` seconds (Portcullis serves it with
    ``Cache-Control: public, max-age=300``). A token naming a ``kid`` missing from the cache
    triggers one fetch, at most every ``min_refetch`` seconds.
    """

    def __init__(
        self,
        base_url: str,
        audience: str = "portcullis",
        issuer: str = "portcullis",
        leeway: float = 30.0,
        max_age: float = 300.0,
        min_refetch: float = 10.0,
        timeout: float = 5.0,
    ) -> None:
        self.jwks_url = base_url.rstrip("/") + "/.well-known/jwks.json"
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway
        self.max_age = max_age
        self.min_refetch = min_refetch
        self.timeout = timeout
        self._keys: Dict[str, jwt.PyJWK] = {}
        self._fetched_at: Optional[float] = None
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        request = urllib.request.Request(self.jwks_url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            document = json.load(response)
        keys: Dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            # Only Ed25519 signing keys, each used with EdDSA only.
            if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
                continue
            if entry.get("alg", ALGORITHM) != ALGORITHM or entry.get("use", "sig") != "sig":
                continue
            kid = entry.get("kid")
            if isinstance(kid, str) and kid:
                keys[kid] = jwt.PyJWK(entry, algorithm=ALGORITHM)
        self._keys = keys
        self._fetched_at = time.monotonic()

    def key_for(self, kid: str) -> jwt.PyJWK:
        """The key named ``kid``, fetching the JWKS when it is stale or lacks that key."""
        with self._lock:
            now = time.monotonic()
            age = None if self._fetched_at is None else now - self._fetched_at
            if age is None or age > self.max_age:
                self._fetch()
            elif kid not in self._keys and age > self.min_refetch:
                # Perhaps the server rotated its key since the last fetch.
                self._fetch()
            key = self._keys.get(kid)
        if key is None:
            raise jwt.InvalidTokenError(f"no key {kid!r} in {self.jwks_url}")
        return key

    def verify(self, token: str) -> Dict[str, Any]:
        """The claims of ``token`` once every check passed; raises ``jwt.PyJWTError`` otherwise."""
        # The header is read unverified only to pick the key; nothing else in it is trusted.
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise jwt.InvalidTokenError("the token names no key (kid)")
        key = self.key_for(kid)
        claims = jwt.decode(
            token,
            key=key.key,
            algorithms=[ALGORITHM],
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            options={"require": REQUIRED_CLAIMS},
        )
        if claims.get("type") != "access":
            raise jwt.InvalidTokenError("not an access token")
        return claims


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Portcullis access token with the server's JWKS.")
    parser.add_argument("base_url", help="where Portcullis answers, e.g. https://auth.example.com")
    parser.add_argument("token", help="the access token")
    parser.add_argument("--audience", default="portcullis", help="expected aud claim (default: portcullis)")
    parser.add_argument("--issuer", default="portcullis", help="expected iss claim (default: portcullis)")
    parser.add_argument("--leeway", type=float, default=30.0, help="clock skew tolerated, in seconds (default: 30)")
    args = parser.parse_args(argv)

    verifier = JwksVerifier(args.base_url, audience=args.audience, issuer=args.issuer, leeway=args.leeway)
    try:
        claims = verifier.verify(args.token.strip())
    except jwt.PyJWTError as e:
        print(f"token rejected: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        # Network errors (urllib's are OSErrors) and a JWKS that is not JSON.
        print(f"cannot read the keys at {verifier.jwks_url}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
