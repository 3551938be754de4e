"""Authentication and authorization in the order of §2.2; the first failing check decides."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import Request

from .clock import parse_iso
from .errors import ApiError, mapped, route_built
from .keys import has_scope, hash_secret, parse_key
from .models import KeyRecord
from .ratelimit import RateDecision
from .state import EmulatorState


@dataclass(frozen=True)
class AuthContext:
    key: KeyRecord
    product_id: str  # every accepted key is bound to exactly one product
    rate: RateDecision


def bearer_token(header: str | None) -> str | None:
    """Split on single spaces like the server: scheme (case-insensitive) then token; extra pieces ignored."""
    if not header:
        return None
    pieces = header.split(" ")
    if pieces[0].lower() != "bearer" or len(pieces) < 2 or not pieces[1]:
        return None
    return pieces[1]


def authenticate(request: Request, state: EmulatorState, scope: str, route: str) -> AuthContext:
    """Checks 1-10 of §2.2. 401/403 do not consume rate-limit budget because they come first."""
    token = bearer_token(request.headers.get("authorization"))
    parsed = parse_key(token) if token else None
    if parsed is None:
        raise mapped("UNAUTHENTICATED")
    with state.transaction() as now:
        record = state.keys.get((parsed.workspace_id, parsed.client_id))
        if (
            record is None
            or record.status != "active"
            or not hmac.compare_digest(hash_secret(parsed.secret), record.secret_sha256)
        ):
            raise mapped("UNAUTHENTICATED")
        if record.expires_at is not None:
            expires = parse_iso(record.expires_at)
            if expires is None or expires <= now:
                raise mapped("UNAUTHENTICATED")
        if not record.owner_is_member:
            raise mapped("UNAUTHENTICATED")
        if not has_scope(record.scopes, scope):
            raise mapped("FORBIDDEN")
        if record.product_id is None:
            raise route_built(
                403,
                "API_KEY_NOT_BOUND_TO_PRODUCT",
                "This API key is not bound to a brand. Create a new key for a specific brand.",
                rate_headers=False,
            )
        if not state.seed.workspace.subscription_active:
            raise route_built(
                403, "SUBSCRIPTION_REQUIRED", "An active subscription is required to use the API.", rate_headers=False
            )
        # The bucket is the literal pathname as sent (percent-encoding kept, query ignored).
        pathname = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        decision = state.rate_limiter.check(record.client_id, pathname, route, now)
    if not decision.allowed:
        raise ApiError(
            429,
            {"error": "RATE_LIMITED", "retryAfter": decision.retry_after},
            headers={**decision.headers(), "Retry-After": str(decision.retry_after)},
        )
    request.state.rate_headers = decision.headers()
    return AuthContext(record, record.product_id, decision)
