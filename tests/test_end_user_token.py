"""Verified end users (issue 17): a JWT in `X-End-User-Token`, checked offline.

The token's subject is the end user (the body cannot override it) and its tier claim picks
the tier's limits, strike thresholds and the endpoints and models it may use. Every kind of
bad token is a 401 `invalid_end_user_token`.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from goodstanding.endusers.identity import safety_identifier
from goodstanding.errors import ConfigError
from goodstanding.gateway import Gateway
from goodstanding.settings import load_settings
from tests.conftest import gateway_env

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]
VIOLENT = [{"role": "user", "content": "[[flag:violence]] tell me a story"}]
ISSUER, AUDIENCE = "https://login.acme.example/", "goodstanding-gateway"


def _pair(kind: str) -> tuple[Any, dict[str, Any]]:
    if kind == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif kind == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return private, {**jwk, "kid": f"{kind.lower()}-1", "use": "sig"}


KEYS = {kind: _pair(kind) for kind in ("RS256", "ES256", "EdDSA")}
STRANGER, _ = _pair("RS256")  # a key the gateway does not know


def token(sub: str = "alice", *, alg: str = "RS256", key: Any = None, kid: str | None = "",
          **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600,
               **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    headers = {"kid": KEYS[alg][1]["kid"] if kid == "" else kid}
    if headers["kid"] is None:
        headers = {}
    return jwt.encode(payload, key or KEYS[alg][0], algorithm=alg, headers=headers)


@pytest.fixture
def jwks_file(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [KEYS["RS256"][1], KEYS["ES256"][1]]}))
    return str(path)


@pytest.fixture
def verified(start_gateway, jwks_file):
    """Factory: a gateway verifying tokens (RS256/ES256 from a JWKS file, EdDSA inline)."""

    def start(**env: str):
        return start_gateway(GOODSTANDING_IDENTITY__TOKEN__JWKS_FILE=jwks_file,
                             GOODSTANDING_IDENTITY__TOKEN__KEYS=json.dumps([KEYS["EdDSA"][1]]),
                             GOODSTANDING_IDENTITY__TOKEN__ISSUER=ISSUER,
                             GOODSTANDING_IDENTITY__TOKEN__AUDIENCE=AUDIENCE, **env)

    return start


def chat(gw, jwt_token: str | None, user: str | None = "somebody", messages=HELLO,
         model: str = MODEL):
    headers = {"X-End-User-Token": jwt_token} if jwt_token is not None else None
    body = {"safety_identifier": user} if user is not None else {}
    return gw.client().chat.completions.create(model=model, messages=messages,
                                               extra_headers=headers, **body)


def last_chat(sim) -> dict[str, Any]:
    return [r for r in sim.requests if r["path"].endswith("/chat/completions")][-1]


def sid(gw, end_user: str) -> str:
    return safety_identifier(gw.settings.identity.secret.encode(), "test-app", end_user)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_a_valid_token_names_the_end_user(verified, sim, alg):
    gw = verified()
    chat(gw, token("Alice", alg=alg), user=None)
    sent = last_chat(sim)
    assert sent["body"]["safety_identifier"] == sid(gw, "alice")  # canonicalised subject
    assert "x-end-user-token" not in sent["headers"]


def test_the_body_cannot_override_the_tokens_subject(verified, sim):
    gw = verified()
    chat(gw, token("alice"), user="mallory")
    assert last_chat(sim)["body"]["safety_identifier"] == sid(gw, "alice")
    time.sleep(0.3)  # the audit writer flushes every 0.05 s
    record = gw.store_call("query_audit", limit=1)[0]
    assert record["end_user"] == "alice"
    assert "end_user_overridden_by_token" in record["reasons"]


def test_the_tier_claim_picks_the_tiers_limits(verified):
    gw = verified(GOODSTANDING_LIMITS__END_USER__RPM="2")
    vip = token("vip", tier="verified")
    for _ in range(6):  # verified: 3 × the anonymous limit
        chat(gw, vip)
    with pytest.raises(openai.RateLimitError):
        chat(gw, vip)
    plain = token("plain")  # no claim: the key's tier (anonymous)
    for _ in range(2):
        chat(gw, plain)
    with pytest.raises(openai.RateLimitError):
        chat(gw, plain)
    odd = token("odd", tier="platinum")  # not a tier: the key's
    for _ in range(2):
        chat(gw, odd)
    with pytest.raises(openai.RateLimitError):
        chat(gw, odd)


def _none_token() -> str:
    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "tier": "kyc"}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _tampered() -> str:
    head, payload, signature = token("alice").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def _public_key_as_hmac_secret() -> str:
    # the classic confusion: HS256 "signed" with the RSA public key the gateway trusts
    pem = KEYS["RS256"][0].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    now = int(time.time())
    body = base64.urlsafe_b64encode(json.dumps(
        {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600}).encode()
    ).rstrip(b"=").decode()
    import hashlib
    import hmac

    mac = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


BAD_TOKENS = {
    "expired": lambda: token(exp=int(time.time()) - 120),
    "not yet valid": lambda: token(nbf=int(time.time()) + 300),
    "wrong issuer": lambda: token(iss="https://evil.example/"),
    "wrong audience": lambda: token(aud="another-service"),
    "no audience": lambda: token(aud=None),
    "no expiry": lambda: token(exp=None),
    "no subject": lambda: token(sub=None),
    "tampered": _tampered,
    "alg none": _none_token,
    "hmac with the public key": _public_key_as_hmac_secret,
    "an unknown key": lambda: token(key=STRANGER, kid=None),
    "an unknown kid": lambda: token(kid="rotated-away"),
    "the wrong key for its kid": lambda: token(key=STRANGER),
    "garbage": lambda: "not.a.jwt",
    "empty subject": lambda: token(sub="\u200b "),
}


@pytest.mark.parametrize("make", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_bad_token_is_refused(verified, sim, make):
    gw = verified()
    before = len(sim.requests)
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(gw, make())
    assert caught.value.code == "invalid_end_user_token"
    assert caught.value.param == "X-End-User-Token"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(sim.requests) == before  # nothing went upstream


def test_clock_skew_within_the_leeway_is_tolerated(verified):
    gw = verified(GOODSTANDING_IDENTITY__TOKEN__LEEWAY="60s")
    now = int(time.time())
    chat(gw, token(exp=now - 20))
    chat(gw, token(nbf=now + 20, iat=now + 20))


def test_a_token_to_a_gateway_that_verifies_none_is_ignored_without_config(gw, sim):
    # without identity.token the check is not in the pipeline: nothing is verified or trusted
    chat(gw, token("alice"), user="bob")
    assert last_chat(sim)["body"]["safety_identifier"] == sid(gw, "bob")


def test_a_required_token_refuses_calls_without_one(verified):
    gw = verified(GOODSTANDING_IDENTITY__TOKEN__REQUIRED="true")
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(gw, None)
    assert caught.value.code == "invalid_end_user_token"
    gw.client().models.list()  # not a generation call
    chat(gw, token("alice"))


def test_an_endpoint_can_require_a_tier(verified):
    gw = verified(GOODSTANDING_IDENTITY__REQUIRE_TIER='{endpoints: {images.generations: kyc}}')
    images = gw.client().images

    def draw(jwt_token: str) -> Any:
        return images.generate(model="gpt-image-1", prompt="a garden",
                               extra_headers={"X-End-User-Token": jwt_token})

    with pytest.raises(openai.PermissionDeniedError) as caught:
        draw(token("vera", tier="verified"))
    assert caught.value.code == "tier_required"
    assert "kyc" in caught.value.message and "verified" in caught.value.message
    draw(token("kim", tier="kyc"))
    chat(gw, token("vera", tier="verified"))  # chat needs no tier


def test_a_model_can_require_a_tier(verified):
    gw = verified(GOODSTANDING_IDENTITY__REQUIRE_TIER='{models: {gpt-4o: verified}}')
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(gw, token("anna"), model="gpt-4o")
    assert caught.value.code == "tier_required" and "gpt-4o" in caught.value.message
    chat(gw, token("anna"), model=MODEL)
    chat(gw, token("vic", tier="verified"), model="gpt-4o")
    chat(gw, token("kai", tier="kyc"), model="gpt-4o")  # above is enough


def test_each_tier_has_its_own_strike_thresholds(verified):
    gw = verified(GOODSTANDING_STRIKES__TIERS="{anonymous: {suspend_at: 2}}")
    for jwt_token in (token("anon"), token("anon")):
        with pytest.raises(openai.BadRequestError):
            chat(gw, jwt_token, messages=VIOLENT)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(gw, token("anon"))
    assert caught.value.code == "end_user_suspended"
    for _ in range(2):  # the verified tier keeps the global thresholds (suspend at 3)
        with pytest.raises(openai.BadRequestError):
            chat(gw, token("vip", tier="verified"), messages=VIOLENT)
    chat(gw, token("vip", tier="verified"))


@pytest.mark.parametrize(("keys", "message"), [
    ([{**KEYS["RS256"][1], "d": "c2VjcmV0"}], "not a public key"),
    ([{"kty": "oct", "k": "c2VjcmV0"}], "not a public key"),
    ([{"kty": "RSA", "n": "??"}], "identity.token.keys[0]"),
    ([], "no keys"),
])
def test_unusable_keys_stop_start_up(tmp_path, sim, keys, message):
    env = gateway_env(tmp_path, sim.url, GOODSTANDING_IDENTITY__TOKEN__KEYS=json.dumps(keys),
                      GOODSTANDING_IDENTITY__TOKEN__AUDIENCE=AUDIENCE)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Gateway.build(load_settings(env=env))


def test_a_jwks_file_that_cannot_be_read_stops_start_up(tmp_path, sim):
    env = gateway_env(tmp_path, sim.url,
                      GOODSTANDING_IDENTITY__TOKEN__JWKS_FILE=str(tmp_path / "missing.json"),
                      GOODSTANDING_IDENTITY__TOKEN__AUDIENCE=AUDIENCE)
    with pytest.raises(ConfigError, match="identity.token.jwks_file"):
        Gateway.build(load_settings(env=env))


def test_an_operator_defined_tier_has_its_limits_rank_and_page_entry(verified):
    gw = verified(GOODSTANDING_IDENTITY__TIERS="[anonymous, verified, student, kyc]",
                  GOODSTANDING_LIMITS__TIERS__STUDENT__RPM="4",
                  GOODSTANDING_IDENTITY__REQUIRE_TIER="{endpoints: {images.generations: student}}")
    student = token("sue", tier="student")
    for _ in range(4):
        chat(gw, student)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(gw, student)
    assert "limit 4" in caught.value.message

    def draw(jwt_token: str) -> Any:
        return gw.client().images.generate(model="gpt-image-1", prompt="a garden",
                                           extra_headers={"X-End-User-Token": jwt_token})

    with pytest.raises(openai.PermissionDeniedError) as refused:
        draw(token("val", tier="verified"))  # verified ranks below student
    assert refused.value.code == "tier_required" and "student" in refused.value.message
    draw(token("ken", tier="kyc"))  # kyc ranks above
    limits = next(s for s in httpx.get(f"{gw.url}/policy?format=json").json()["sections"]
                  if s["id"] == "limits")
    assert [i["id"] for i in limits["items"]] == ["limits-anonymous", "limits-verified",
                                                 "limits-student", "limits-kyc"]
    assert limits["items"][2]["text"].startswith("student: 4 requests a minute")


@pytest.mark.parametrize(("env", "message"), [
    ({"GOODSTANDING_LIMITS__TIERS__GOLD__RPM": "4"}, "limits.tiers.gold: not a tier"),
    ({"GOODSTANDING_STRIKES__TIERS": "{gold: {ban_at: 9}}"}, "strikes.tiers.gold: not a tier"),
    ({"GOODSTANDING_IDENTITY__REQUIRE_TIER": "{models: {gpt-4o: gold}}"},
     "require_tier.models.gold: not a tier"),
    ({"GOODSTANDING_IDENTITY__TIERS": "[verified, anonymous, kyc]"}, "anonymous is the lowest"),
    ({"GOODSTANDING_IDENTITY__TIERS": "[anonymous, kyc]"}, "missing: verified"),
    ({"GOODSTANDING_STRIKES__TIERS": "{kyc: {ban_att: 9}}"}, "ban_att"),
    ({"GOODSTANDING_IDENTITY__TOKEN__KEYS": "[]"}, "identity.token.audience: Field required"),
])
def test_tier_names_are_checked_at_start_up(tmp_path, sim, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env=gateway_env(tmp_path, sim.url, **env))


def test_the_refusal_says_what_is_wrong_without_echoing_the_token(verified):
    gw = verified()
    cases = {token(exp=int(time.time()) - 120): "has expired",
             token(iss="https://evil.example/"): "issuer is not accepted",
             token(aud="another-service"): "audience is not this service",
             token(sub=None): "lacks the claim sub",
             _tampered(): "signature does not verify",
             _none_token(): "algorithm is not accepted"}
    for bad, words in cases.items():
        with pytest.raises(openai.AuthenticationError) as caught:
            chat(gw, bad)
        assert words in caught.value.message
        assert bad not in caught.value.message and "evil" not in caught.value.message


def test_a_verified_token_is_cached_until_it_expires():
    from goodstanding.endusers.token import TokenRejected, TokenVerifier
    from goodstanding.settings import EndUserTokenSettings

    verifier = TokenVerifier(EndUserTokenSettings(keys=(KEYS["ES256"][1],), leeway="0s",
                                                  issuer=ISSUER, audience=AUDIENCE))
    now = int(time.time())
    short = token("tim", alg="ES256", exp=now + 2)
    assert verifier.verify(short, now).end_user == "tim"
    assert short in verifier._cache
    assert verifier.verify(short, now + 1).end_user == "tim"  # from the cache
    with pytest.raises(TokenRejected, match="expired"):
        verifier.verify(short, now + 3)  # the cache does not outlive the token
    assert short not in verifier._cache
