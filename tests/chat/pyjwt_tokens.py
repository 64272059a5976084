#!/usr/bin/python3
"""Tokens made by an independent JWT implementation (Debian's python3-jwt,
PyJWT) for the chat-units suite: one "name token" line each.

usage: pyjwt_tokens.py SECRET NOW AUDIENCE ISSUER [OURS]

With OURS (a token sugarcastd minted), PyJWT also checks that one and
prints "ours SUB ROLE STREAM".
"""
import sys

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

secret, now, aud, iss = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = {"sub": "py-user", "name": "Py", "role": "moderator", "stream": "s1",
        "exp": now + 600, "aud": aud, "iss": iss}


def claims(**changes):
    c = dict(base)
    for k, v in changes.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_pem = rsa_key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
tokens = {
    "good": jwt.encode(claims(nbf=now - 5, iat=now - 5), secret, algorithm="HS256"),
    "good-aud-list": jwt.encode(claims(aud=["other", aud]), secret, algorithm="HS256"),
    "alg-none": jwt.encode(claims(), None, algorithm="none"),
    "alg-rs256": jwt.encode(claims(), rsa_pem, algorithm="RS256"),
    "alg-hs512": jwt.encode(claims(), secret, algorithm="HS512"),
    "nbf-future": jwt.encode(claims(nbf=now + 300), secret, algorithm="HS256"),
    "bad-audience": jwt.encode(claims(aud="someone-else"), secret, algorithm="HS256"),
    "no-audience": jwt.encode(claims(aud=None), secret, algorithm="HS256"),
    "bad-issuer": jwt.encode(claims(iss="https://evil.example"), secret, algorithm="HS256"),
    "expired": jwt.encode(claims(exp=now - 1), secret, algorithm="HS256"),
    "wrong-secret": jwt.encode(claims(), secret + "x", algorithm="HS256"),
}
# PyJWT itself accepts the good ones with the same rules the daemon applies.
for name in ("good", "good-aud-list"):
    jwt.decode(tokens[name], secret, algorithms=["HS256"], audience=aud, issuer=iss)
for name, token in tokens.items():
    print(name, token)
if len(sys.argv) > 5:
    got = jwt.decode(sys.argv[5], secret, algorithms=["HS256"], audience=aud, issuer=iss)
    print("ours", got["sub"], got["role"], got["stream"])
