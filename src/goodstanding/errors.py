"""Everything that can go wrong, drawn once (SPEC §3).

    GoodstandingError
    ├── ConfigError                   invalid settings: stops start-up, never reaches a client
    ├── OperatorError                 a command's expected failure: one line with the fix (cli.py)
    └── GatewayError                  rendered as OpenAI's error envelope by one handler
        ├── InvalidRequest            400 invalid_request       (malformed JSON, wrong types)
        ├── RequestTooLarge           413 request_too_large
        ├── HeadersTooLarge           431 headers_too_large     (too many or too long headers)
        ├── InvalidApiKey             401 invalid_api_key
        │   └── UpstreamKeyInClient   401 upstream_key_in_client (a real OpenAI key was sent)
        ├── InvalidEndUserToken       401 invalid_end_user_token (X-End-User-Token)
        ├── EndpointNotAllowed        403 endpoint_not_allowed
        ├── NotFound                  404 not_found
        ├── ModelNotFound             404 model_not_found
        ├── PolicyRefusal             x-should-retry: false — retrying cannot help
        │   ├── EndUserRequired       400 end_user_required
        │   ├── ContentPolicyViolation 400 content_policy_violation
        │   ├── JailbreakDetected     400 jailbreak_detected
        │   ├── PromptTooLong         400 prompt_too_long
        │   ├── EndUserSuspended      403 end_user_suspended (retry-after)
        │   ├── EndUserBanned         403 end_user_banned
        │   ├── UnsupportedCountry    403 unsupported_country
        │   ├── OriginNotAllowed      403 origin_not_allowed  (a key limited to browser origins)
        │   ├── ModelNotAllowed       403 model_not_allowed   (a key limited to models)
        │   ├── PolicyNotAccepted     403 policy_not_accepted (content policy not accepted)
        │   └── TierRequired          403 tier_required       (endpoint or model needs a tier)
        ├── RateLimitExceeded         429 rate_limit_exceeded (retry-after; the SDK backs off)
        ├── UpstreamQuotaExhausted    429 insufficient_quota  (OpenAI credit gone; not retried)
        ├── ModerationUnavailable     503 moderation_unavailable
        ├── UpstreamUnavailable       502 upstream_unavailable
        │   └── UpstreamCredentialsRefused  (the upstream refused the gateway's own key; not retried)
        ├── StoreUnavailable          503 store_unavailable — PostgreSQL or Redis unreachable
        ├── CheckFailed               503 check_failed — a check crashed; we fail closed
        └── InternalError             500 internal_error — a bug: logged, recorded, never a trace

Messages name the category or limit; they never echo the user's text or reveal a secret.
"""

from __future__ import annotations

from typing import ClassVar


class GoodstandingError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GoodstandingError):
    """The configuration is invalid; the message names the bad key."""


class OperatorError(GoodstandingError):
    """An expected failure of a command (a store unreachable, a port in use, a schema to
    migrate, a file it may not read): the CLI prints the message, which names the cause and
    the fix, on one line."""


class GatewayError(GoodstandingError):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "internal_error"
    should_retry: ClassVar[bool | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        reasons: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}
        # machine-readable reasons for the audit record (categories, limit names)
        self.reasons = reasons or (self.code,)

    def body(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.should_retry is not None:
            headers["x-should-retry"] = "true" if self.should_retry else "false"
        return headers


class InvalidRequest(GatewayError):
    status, code = 400, "invalid_request"


class RequestTooLarge(GatewayError):
    status, code = 413, "request_too_large"


class HeadersTooLarge(GatewayError):
    status, code = 431, "headers_too_large"


class InvalidApiKey(GatewayError):
    status, type, code = 401, "invalid_request_error", "invalid_api_key"
    should_retry = False


class UpstreamKeyInClient(InvalidApiKey):
    code = "upstream_key_in_client"


class InvalidEndUserToken(GatewayError):
    status, type, code = 401, "invalid_request_error", "invalid_end_user_token"
    should_retry = False


class EndpointNotAllowed(GatewayError):
    status, type, code = 403, "permission_error", "endpoint_not_allowed"
    should_retry = False


class NotFound(GatewayError):
    status, code = 404, "not_found"
    should_retry = False


class ModelNotFound(GatewayError):
    status, code = 404, "model_not_found"
    should_retry = False


class PolicyRefusal(GatewayError):
    should_retry = False


class EndUserRequired(PolicyRefusal):
    status, code = 400, "end_user_required"


class ContentPolicyViolation(PolicyRefusal):
    status, code = 400, "content_policy_violation"


class JailbreakDetected(PolicyRefusal):
    status, code = 400, "jailbreak_detected"


class PromptTooLong(PolicyRefusal):
    status, code = 400, "prompt_too_long"


class EndUserSuspended(PolicyRefusal):
    status, type, code = 403, "permission_error", "end_user_suspended"


class EndUserBanned(PolicyRefusal):
    status, type, code = 403, "permission_error", "end_user_banned"


class UnsupportedCountry(PolicyRefusal):
    status, type, code = 403, "permission_error", "unsupported_country"


class OriginNotAllowed(PolicyRefusal):
    status, type, code = 403, "permission_error", "origin_not_allowed"


class ModelNotAllowed(PolicyRefusal):
    status, type, code = 403, "permission_error", "model_not_allowed"


class PolicyNotAccepted(PolicyRefusal):
    status, type, code = 403, "permission_error", "policy_not_accepted"


class TierRequired(PolicyRefusal):
    status, type, code = 403, "permission_error", "tier_required"


class RateLimitExceeded(GatewayError):
    status, type, code = 429, "requests", "rate_limit_exceeded"


class UpstreamQuotaExhausted(GatewayError):
    """OpenAI answered ``insufficient_quota`` a moment ago: held, not sent, not to be retried."""

    status, type, code = 429, "insufficient_quota", "insufficient_quota"
    should_retry = False


class ModerationUnavailable(GatewayError):
    status, type, code = 503, "server_error", "moderation_unavailable"


class UpstreamUnavailable(GatewayError):
    status, type, code = 502, "server_error", "upstream_unavailable"


class UpstreamCredentialsRefused(UpstreamUnavailable):
    """The upstream answered 401/403 to the gateway's own key: not the client's key at fault
    (relayed, the SDK would say so), and retrying cannot help until the operator acts."""

    should_retry = False
    reason: ClassVar[str] = "upstream_credentials_refused"  # in the record; alerts on it


class StoreUnavailable(GatewayError):
    """A shared store (PostgreSQL, Redis) cannot answer: fail closed, the client may retry."""

    status, type, code = 503, "server_error", "store_unavailable"


class CheckFailed(GatewayError):
    status, type, code = 503, "server_error", "check_failed"


class InternalError(GatewayError):
    """A bug, not a client mistake: the call is still finished and recorded (pipeline.py)."""

    status, type, code = 500, "server_error", "internal_error"
