"""An API that accepts usersvc access tokens (RFC 9068 JWTs), verified with
PyJWT against usersvc's JWKS. Python 3.9+, the standard library's
http.server and PyJWT[crypto] >= 2.6:

  GET /hello  any valid access token: its sub, client_id and scope
  GET /admin  a user token with "admin" in its `roles` claim (the client asked for the `roles` scope)

A token is taken only if it is signed by a key of usersvc's JWKS with EdDSA
or RS256 (the algorithm of that key, never one the token picks for it), has
typ "at+jwt", usersvc's issuer, this API's audience, and has not expired.
That refuses usersvc's refresh tokens (typ "JWT", aud "<audience>:refresh")
and id_tokens (typ "JWT", aud the client id), and access tokens meant for
another API. Anything else is 401 with WWW-Authenticate: Bearer (RFC 6750).

Settings (environment): USERSVC_ISSUER_URL, API_AUDIENCE, PORT (5000), HOST (127.0.0.1).
"""

import json
import os
import re
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

REALM = "python-pyjwt-api"
ALGORITHM_OF_KEY_TYPE = {"OKP": "EdDSA", "RSA": "RS256"}
REQUIRED_CLAIMS = ["iss", "aud", "sub", "client_id", "jti", "iat", "exp"]
BEARER = re.compile(r"^Bearer +(\S+)$", re.IGNORECASE)
REFETCH_COOLDOWN_S = 30


class InvalidToken(Exception):
    pass


def read_settings(env):
    problems = []
    issuer = env.get("USERSVC_ISSUER_URL", "")
    audience = env.get("API_AUDIENCE", "")
    port = env.get("PORT", "5000")
    if not issuer:
        problems.append("USERSVC_ISSUER_URL is required: usersvc's USERSVC_PUBLIC_URL, exactly as usersvc has it")
    if not audience:
        problems.append("API_AUDIENCE is required: the --audience of the clients that call this API")
    if not port.isdigit() or int(port) > 65535:
        problems.append("PORT must be a port number")
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        sys.exit(1)
    return {"issuer": issuer, "audience": audience, "port": int(port), "host": env.get("HOST", "127.0.0.1")}


def discover_jwks_uri(issuer):
    """The JWKS address from usersvc's discovery document, whose issuer must be the configured one exactly."""
    address = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(address, timeout=10) as response:
            metadata = json.load(response)
    except Exception as error:
        sys.exit(f"cannot use {address}: {error}")
    if metadata.get("issuer") != issuer:
        sys.exit(f"cannot use {address}: its issuer is {metadata.get('issuer')!r}, not USERSVC_ISSUER_URL {issuer!r}")
    if not isinstance(metadata.get("jwks_uri"), str):
        sys.exit(f"cannot use {address}: it names no jwks_uri")
    return metadata["jwks_uri"]


class AccessTokenVerifier:
    def __init__(self, issuer, audience, jwks_uri):
        self.issuer = issuer
        self.audience = audience
        # Keeps the key set for 5 minutes (usersvc's Cache-Control on the JWKS).
        self.jwks = jwt.PyJWKClient(jwks_uri, cache_jwk_set=True, lifespan=300)
        self.refetched_at = float("-inf")

    def signing_key(self, kid):
        """The JWKS key `kid`; an unknown one fetches the set again (a rotated key), at most once per REFETCH_COOLDOWN_S.

        PyJWKClient.get_signing_key would fetch again for every unknown kid, so
        anyone could make this API hammer usersvc with made-up key ids.
        """
        if not isinstance(kid, str):
            raise InvalidToken("the token names no key (kid)")
        key = self.jwks.match_kid(self.jwks.get_signing_keys(), kid)
        if key is None and time.monotonic() - self.refetched_at >= REFETCH_COOLDOWN_S:
            self.refetched_at = time.monotonic()
            key = self.jwks.match_kid(self.jwks.get_signing_keys(refresh=True), kid)
        if key is None:
            raise InvalidToken(f"usersvc's JWKS has no key {kid!r}")
        return key

    def verify(self, token):
        """The verified claims of an access token; raises InvalidToken with the reason otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            # RFC 9068 §4: only an access token, never an id_token or a refresh token that happens to verify.
            typ = str(header.get("typ", "")).lower()
            if typ not in ("at+jwt", "application/at+jwt"):
                raise InvalidToken(f'typ is {header.get("typ")!r}, not "at+jwt": not an access token')
            signing_key = self.signing_key(header.get("kid"))
            algorithm = ALGORITHM_OF_KEY_TYPE.get(signing_key.key_type)
            if algorithm is None or header.get("alg") != algorithm:
                raise InvalidToken(f"alg {header.get('alg')!r} does not fit the {signing_key.key_type} key {header.get('kid')!r}")
            return jwt.decode(
                token,
                signing_key.key,
                algorithms=[algorithm],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error) or type(error).__name__) from error


class Handler(BaseHTTPRequestHandler):
    verifier = None  # set in main()
    server_version = "python-pyjwt-api"

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path not in ("/hello", "/admin"):
            return self.answer(404, {"error": "not_found"})
        match = BEARER.match(self.headers.get("Authorization", ""))
        if not match:
            # RFC 6750 §3.1: a request without a bearer token gets the challenge alone, no error code.
            return self.answer(401, {"error": "unauthorized"}, {"WWW-Authenticate": f'Bearer realm="{REALM}"'})
        try:
            claims = self.verifier.verify(match.group(1))
        except InvalidToken as error:
            description = str(error)
            quoted = description.replace('"', "'").replace("\\", "'")
            challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{quoted}"'
            return self.answer(401, {"error": "invalid_token", "error_description": description}, {"WWW-Authenticate": challenge})
        if path == "/hello":
            return self.answer(200, {"sub": claims["sub"], "client_id": claims["client_id"], "scope": claims.get("scope")})
        roles = claims.get("roles") if isinstance(claims.get("roles"), list) else []
        if "admin" not in roles:
            challenge = f'Bearer realm="{REALM}", error="insufficient_scope", error_description="needs the admin role", scope="roles"'
            body = {"error": "insufficient_scope", "error_description": "needs a user with the admin role, and the roles scope"}
            return self.answer(403, body, {"WWW-Authenticate": challenge})
        return self.answer(200, {"sub": claims["sub"], "roles": roles})

    def do_POST(self):
        self.answer(405, {"error": "method_not_allowed"}, {"Allow": "GET"})

    do_PUT = do_PATCH = do_DELETE = do_POST

    def answer(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def main():
    settings = read_settings(os.environ)
    jwks_uri = discover_jwks_uri(settings["issuer"])
    Handler.verifier = AccessTokenVerifier(settings["issuer"], settings["audience"], jwks_uri)
    server = ThreadingHTTPServer((settings["host"], settings["port"]), Handler)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}, accepting usersvc access tokens for {settings['audience']} from {settings['issuer']}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
