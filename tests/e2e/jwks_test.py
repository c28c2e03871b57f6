"""Another program verifies our tokens with PyJWT and the published JWK Set alone.

Signs a user up, logs in, then verifies the access token as a third-party service would:
PyJWKClient fetches /.well-known/jwks.json, picks the key the token's `kid` names, and
jwt.decode checks the EdDSA signature, the issuer, the audience and the expiry. A token with
one payload byte changed, or signed by another Ed25519 key under our `kid`, is refused.

Usage: jwks_test.py <base-url>
"""

import base64
import json
import sys
import urllib.request

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def post(url, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def main(base):
    credentials = {"email": "pyjwt@example.com", "password": "verified-elsewhere"}
    user = post(f"{base}/signup", credentials)
    token = post(f"{base}/users/login", credentials)["token"]

    client = jwt.PyJWKClient(f"{base}/.well-known/jwks.json")
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key.key, algorithms=["EdDSA"], audience="todo-jwt", issuer="todo-jwt"
    )
    assert claims["id"] == user["id"], claims
    assert claims["email"] == credentials["email"], claims
    assert jwt.get_unverified_header(token)["kid"] == key.key_id
    print(f"jwks: PyJWT {jwt.__version__} verified the token with key {key.key_id}")

    head, payload, signature = token.split(".")
    claims_json = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    tampered = claims_json.replace(user["id"].encode(), b"0" * len(user["id"]))
    tampered = base64.urlsafe_b64encode(tampered).rstrip(b"=").decode()
    forged = jwt.encode(
        {**claims, "id": "someone-else"},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": key.key_id},
    )
    for bad in (f"{head}.{tampered}.{signature}", forged):
        try:
            jwt.decode(bad, key.key, algorithms=["EdDSA"], audience="todo-jwt", issuer="todo-jwt")
        except jwt.InvalidSignatureError:
            continue
        raise AssertionError(f"PyJWT accepted a forged token: {bad}")
    print("jwks: a tampered token and another key's token are refused")


if __name__ == "__main__":
    main(sys.argv[1])
