"""Bearer-token authentication, scopes and the clinician's patient context.

Why these rules:

* **Asymmetric signatures only (RS256, ES256).** The service holds public keys, so it
  cannot mint tokens if it is compromised, and the classic attack of signing an HS256
  token with the published RSA key as the HMAC secret has nothing to work with: the
  algorithm is checked against an allow-list *before* any key is chosen, and each key is
  used only with the algorithm of its type. ``alg=none`` never reaches a key.
* **Every token is used once.** A ``jti`` is remembered until the token expires
  (:class:`JtiCache`), so a token lifted from a log or a proxy cannot be replayed;
  tokens must carry ``exp``, ``sub`` and ``jti``. The cache is an interface: one process
  keeps it in memory, several replicas would share one (e.g. Redis ``SET NX EX``).
* **Errors say what was wrong, never what was sent**: the token and its claims are
  attacker-controlled text, so no message quotes them.
* **The subject is kept only as a pseudonym** (:func:`~dxkit.service.storage.pseudonym`),
  which is what the audit log records; the raw ``sub`` stays out of logs and reprs.

A clinician may act only for the patients in the token's ``patient`` claim (SMART on
FHIR launch context); ``admin`` may act for any patient and satisfies every scope.
"""

from __future__ import annotations

import heapq
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from dxkit.errors import InputError
from dxkit.service.errors import ErrorDetail, error_response
from dxkit.service.storage import pseudonym

SUPPORTED_ALGORITHMS = ("RS256", "ES256")
SCOPES = ("clinician", "admin")
MAX_TOKEN_BYTES = 8192  # a JWT larger than this is not one we issue: refuse before parsing
MIN_RSA_BITS = 2048
MAX_JTI_CHARS = 256  # bounds the replay cache's memory per entry
_REALM = 'Bearer realm="dxkit"'

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class AuthError(HTTPException):
    """401 (bad or missing token) or 403 (valid token, not allowed), in the service's shape.

    A subclass of Starlette's ``HTTPException`` so it still answers 401/403 in an app
    where :func:`install_auth` did not register the richer handler.
    """

    def __init__(self, status: int, detail: ErrorDetail, challenge: str) -> None:
        super().__init__(status, detail=detail.what, headers={"WWW-Authenticate": challenge})
        self.error = detail


def _invalid(
    what: str, found: str, fix: str = "obtain a new token from the identity provider"
) -> AuthError:
    description = what.replace('"', "'")
    challenge = f'{_REALM}, error="invalid_token", error_description="{description}"'
    expected = "a signed, unexpired, unused JWT for this service (RS256 or ES256)"
    return AuthError(
        401, ErrorDetail(what=what, expected=expected, found=found, fix=fix), challenge
    )


@dataclass(frozen=True)
class VerifyKey:
    """One public key, the one algorithm it may verify, and its ``kid`` if published."""

    key: PublicKey = field(repr=False)
    algorithm: str
    kid: str | None = None


@dataclass(frozen=True)
class AuthConfig:
    """What a token must satisfy. ``secret`` keys the pseudonyms of subjects and patients."""

    keys: tuple[VerifyKey, ...]
    issuer: str
    audience: str
    secret: str | bytes = field(repr=False)
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS
    leeway_s: int = 30  # clock skew between the identity provider and this host

    def __post_init__(self) -> None:
        unsupported = sorted(set(self.algorithms) - set(SUPPORTED_ALGORITHMS))
        if unsupported or not self.algorithms:
            raise InputError(
                "JWT algorithms",
                expected=f"a non-empty subset of {', '.join(SUPPORTED_ALGORITHMS)}",
                found=", ".join(unsupported) or "none",
                fix="set DXKIT_JWT_ALGORITHMS to RS256 and/or ES256",
            )
        if not any(k.algorithm in self.algorithms for k in self.keys):
            raise InputError(
                "JWT public keys",
                expected=f"at least one key usable with {', '.join(self.algorithms)}",
                found=f"{len(self.keys)} key(s), none for the allowed algorithms",
                fix="configure an RSA (>= 2048 bits) or P-256 EC public key",
            )


@dataclass(frozen=True)
class Principal:
    """The verified caller. ``actor_key`` is the pseudonym of ``sub``, safe to log."""

    actor_key: str
    scopes: frozenset[str]
    patients: frozenset[str] = field(repr=False)  # raw FHIR Patient ids of the context
    patient_keys: frozenset[str] = field(repr=False)  # their pseudonyms
    expires_at: float = 0.0

    @property
    def is_admin(self) -> bool:
        """Admins satisfy every scope and may act for any patient."""
        return "admin" in self.scopes

    def has_scopes(self, *scopes: str) -> bool:
        """True when every scope is held (or the principal is an admin)."""
        return self.is_admin or set(scopes) <= self.scopes


def key_for(public: object, kid: str | None = None) -> VerifyKey:
    """The :class:`VerifyKey` of an RSA (RS256) or P-256 EC (ES256) public key."""
    if isinstance(public, rsa.RSAPublicKey) and public.key_size >= MIN_RSA_BITS:
        return VerifyKey(public, "RS256", kid)
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        return VerifyKey(public, "ES256", kid)
    raise InputError(
        "JWT public key",
        expected=f"an RSA key of at least {MIN_RSA_BITS} bits or an EC key on P-256",
        found=type(public).__name__,
        fix="publish an RS256 or ES256 verification key",
    )


def load_verify_keys(path: Path) -> tuple[VerifyKey, ...]:
    """Public keys from a PEM file or a JWKS (JSON) file; symmetric keys are refused."""
    try:
        raw = path.read_bytes()
    except OSError:
        raise InputError(
            "JWT public key file",
            expected="a readable PEM or JWKS file",
            found=f"nothing readable at {path}",
            fix="check DXKIT_JWT_PUBLIC_KEY_FILE / DXKIT_JWT_JWKS_FILE",
        ) from None
    try:
        if raw.lstrip().startswith(b"{"):
            entries = json.loads(raw)["keys"]
            if any(e.get("kty") not in ("RSA", "EC") for e in entries):
                raise ValueError("symmetric or unknown key type")
            jwks = jwt.PyJWKSet.from_dict({"keys": entries})
            return tuple(key_for(k.key, k.key_id) for k in jwks.keys)
        return (key_for(serialization.load_pem_public_key(raw)),)
    except InputError:
        raise
    except (ValueError, KeyError, TypeError, jwt.PyJWTError):
        raise InputError(
            "JWT public key file",
            expected="a PEM public key or a JWKS of RSA/EC public keys",
            found=f"unreadable key material in {path.name}",
            fix="export the identity provider's verification key (not a secret) as PEM/JWKS",
        ) from None


class JtiCache(Protocol):
    """Remembers accepted token ids until their tokens expire; replace to share replicas."""

    def add(self, jti: str, expires_at: float) -> bool:
        """Record ``jti``; False if it is already recorded (a replay)."""
        ...


class ReplayCacheFull(HTTPException):
    """More live tokens than the cache may hold: refuse (503) rather than forget one."""

    def __init__(self) -> None:
        super().__init__(503, detail="too many live tokens", headers={"Retry-After": "1"})


class InMemoryJtiCache:
    """A thread-safe, bounded :class:`JtiCache` for one process.

    Entries leave when their token expires (a heap ordered by expiry makes that cheap).
    When full of live tokens it refuses new ones instead of evicting: evicting would
    reopen the replay window for the evicted token.
    """

    def __init__(
        self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def add(self, jti: str, expires_at: float) -> bool:
        """Record ``jti`` until ``expires_at``; False when already recorded."""
        with self._lock:
            now = self.clock()
            while self._heap and self._heap[0][0] < now:
                _, old = heapq.heappop(self._heap)
                if self._expiry.get(old, math.inf) < now:
                    del self._expiry[old]
            if jti in self._expiry:
                return False
            if len(self._expiry) >= self.max_entries:
                raise ReplayCacheFull
            self._expiry[jti] = expires_at
            heapq.heappush(self._heap, (expires_at, jti))
            return True


class Authenticator:
    """Verifies bearer tokens against an :class:`AuthConfig`; one per app."""

    def __init__(
        self,
        config: AuthConfig,
        *,
        jti_cache: JtiCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self.jti_cache = jti_cache if jti_cache is not None else InMemoryJtiCache(clock=clock)

    def verify(self, token: str) -> Principal:
        """The principal of a valid, first-seen token, or :class:`AuthError` (401)."""
        if len(token) > MAX_TOKEN_BYTES:
            raise _invalid("token too large", f"more than {MAX_TOKEN_BYTES} bytes")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid(
                "malformed token", "not a compact JWS (header.payload.signature)"
            ) from None
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            shown = (
                alg if alg in ("none", "HS256", "HS384", "HS512", *SUPPORTED_ALGORITHMS) else "?"
            )
            raise _invalid(
                "token algorithm not accepted",
                f"alg {shown}; accepted: {', '.join(self.config.algorithms)}",
            )
        claims = self._decode(token, str(alg), header.get("kid"))
        return self._principal(claims)

    def _decode(self, token: str, alg: str, kid: object) -> dict[str, Any]:
        candidates = [k for k in self.config.keys if k.algorithm == alg]
        if kid is not None and any(k.kid is not None for k in candidates):
            candidates = [k for k in candidates if k.kid == kid]
        options: Any = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}
        for candidate in candidates:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, candidate.key, algorithms=[alg], options=options,
                    audience=self.config.audience, issuer=self.config.issuer,
                )  # fmt: skip
                return claims
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidAudienceError:
                raise _invalid("wrong audience", "a token issued for another service") from None
            except jwt.InvalidIssuerError:
                raise _invalid(
                    "wrong issuer", "a token from an issuer this service does not trust"
                ) from None
            except jwt.MissingRequiredClaimError as exc:
                raise _invalid(f"missing claim {exc.claim}", f"no '{exc.claim}' claim") from None
            except jwt.PyJWTError:
                raise _invalid("malformed token", "a token that could not be decoded") from None
        raise _invalid("invalid signature", "a signature no configured key verifies")

    def _principal(self, claims: dict[str, Any]) -> Principal:
        now, leeway = self.clock(), self.config.leeway_s
        for name in ("exp", "sub", "jti"):
            if claims.get(name) in (None, ""):
                raise _invalid(f"missing claim {name}", f"no '{name}' claim")
        exp, nbf = claims["exp"], claims.get("nbf")
        if not _is_number(exp) or (nbf is not None and not _is_number(nbf)):
            raise _invalid("malformed token", "exp/nbf that are not numeric dates")
        if now > exp + leeway:
            raise _invalid("token expired", f"expired {math.ceil(now - exp)} s ago")
        if nbf is not None and now + leeway < nbf:
            raise _invalid("token not yet valid", f"valid in {math.ceil(nbf - now)} s")
        if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str):
            raise _invalid("malformed token", "sub/jti that are not strings")
        if len(claims["jti"]) > MAX_JTI_CHARS:
            raise _invalid("malformed token", f"a jti longer than {MAX_JTI_CHARS} characters")
        if not self.jti_cache.add(claims["jti"], float(exp) + leeway):
            raise _invalid("token replayed", "a jti this service has already accepted")
        patients = frozenset(_patient_ids(claims))
        return Principal(
            actor_key=pseudonym(claims["sub"], self.config.secret),
            scopes=frozenset(_scopes(claims)),
            patients=patients,
            patient_keys=frozenset(pseudonym(p, self.config.secret) for p in patients),
            expires_at=float(exp),
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


def _scopes(claims: dict[str, Any]) -> set[str]:
    """``scope`` (space-separated, RFC 8693) and ``scp`` (a list, or a string)."""
    return set(_strings(claims.get("scope"))) | set(_strings(claims.get("scp")))


def _patient_ids(claims: dict[str, Any]) -> set[str]:
    """``patient`` or ``patient_id``: one id or a list; ``Patient/123`` counts as ``123``."""
    raw = _strings(claims.get("patient")) + _strings(claims.get("patient_id"))
    return {p.removeprefix("Patient/") for p in raw if p.removeprefix("Patient/")}


# --- FastAPI wiring -------------------------------------------------------------------

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A JWT (RS256/ES256) from the identity provider; each token is used once.",
)


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | AuthError:
    """The caller, or why not; cached per request, so rate limiting can key on it first.

    Returns the error instead of raising it so that :mod:`dxkit.service.ratelimit` can
    count failed attempts (by client address) before :func:`get_principal` refuses them.
    Without a bearer token, the web page's session cookie plus its CSRF header stand in
    for the token it was made from (see :mod:`dxkit.service.sessions`).
    """
    authenticator = getattr(request.app.state, "dxkit_auth", None)
    if not isinstance(authenticator, Authenticator):
        raise RuntimeError("authentication is not installed: call install_auth(app, ...)")
    if credentials is None:
        from dxkit.service.sessions import COOKIE_NAME

        if COOKIE_NAME in request.cookies:  # the web page's session (bearer preferred)
            result = _session_principal(request)
            if isinstance(result, AuthError):
                return result
            return _authenticated(request, result, via="session")
        detail = ErrorDetail(
            what="authentication required",
            expected="an 'Authorization: Bearer <JWT>' header",
            found="no bearer token",
            fix="send a token from the identity provider (dev mode prints one at start)",
        )
        return AuthError(401, detail, _REALM)
    try:
        principal = authenticator.verify(credentials.credentials)
    except AuthError as exc:
        return exc
    return _authenticated(request, principal, via="bearer")


def _session_principal(request: Request) -> Principal | AuthError:
    """The principal of the request's session cookie, if its CSRF header matches.

    The cookie alone is never enough: a cross-site form can make the browser send it,
    but only the page's own script knows the CSRF token to put in the header.
    """
    from dxkit.service.sessions import COOKIE_NAME, CSRF_HEADER, session_store

    found = session_store(request.app).resolve(
        request.cookies[COOKIE_NAME], request.headers.get(CSRF_HEADER)
    )
    if isinstance(found, Principal):
        return found
    detail = ErrorDetail(
        what="session not valid",
        expected=f"a live session cookie and its {CSRF_HEADER} header",
        found=found,
        fix="log in again with a fresh token",
    )
    return AuthError(401, detail, _REALM)


def _authenticated(request: Request, principal: Principal, *, via: str) -> Principal:
    """Record the verified caller for the route, the rate limiter and the audit trail."""
    request.state.principal = principal
    request.state.auth_via = via
    from dxkit.service.audit import set_actor  # the audit trail records the pseudonym only

    only = next(iter(principal.patient_keys)) if len(principal.patient_keys) == 1 else None
    set_actor(request, principal.actor_key, principal.scopes, only)
    return principal


def get_principal(result: Annotated[Principal | AuthError, Depends(authenticate)]) -> Principal:
    """The verified caller, or 401 with ``WWW-Authenticate``."""
    if isinstance(result, AuthError):
        raise result
    return result


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _forbidden(what: str, expected: str, challenge: str) -> AuthError:
    fix = "ask the identity provider for a token with the needed scope or patient context"
    detail = ErrorDetail(what=what, expected=expected, found="a token without it", fix=fix)
    return AuthError(403, detail, challenge)


def require_scopes(*scopes: str) -> Callable[[Principal], Principal]:
    """A dependency: the caller, if it holds every scope (``admin`` holds all), else 403."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:  # a typo here would lock everyone out (or nobody): fail at declaration
        raise ValueError(f"unknown scopes {unknown}; known: {list(SCOPES)}")

    def dependency(principal: PrincipalDep) -> Principal:
        if not principal.has_scopes(*scopes):
            wanted = " ".join(scopes)
            challenge = f'{_REALM}, error="insufficient_scope", scope="{wanted}"'
            raise _forbidden("insufficient scope", f"scope {wanted}", challenge)
        return principal

    return dependency


def check_patient_access(
    principal: Principal, patient_id: str | None = None, *, patient_key: str | None = None
) -> None:
    """403 unless ``principal`` is an admin or the patient is in the token's context.

    Give the raw FHIR Patient id (``Patient/`` prefix allowed) or, for stored cases, the
    pseudonym (``patient_key``). A case with no patient at all is refused to clinicians:
    it cannot be shown to belong to their context.
    """
    if principal.is_admin:
        return
    if patient_id is not None and patient_id.removeprefix("Patient/") in principal.patients:
        return
    if patient_key is not None and patient_key in principal.patient_keys:
        return
    challenge = f'{_REALM}, error="insufficient_scope"'
    raise _forbidden(
        "patient not in context", "a patient in the token's 'patient' claim", challenge
    )


async def _auth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    return error_response(exc.status_code, exc.error, exc.headers)


def install_auth(app: FastAPI, authenticator: Authenticator) -> Authenticator:
    """Put ``authenticator`` on the app and answer its errors in the service's shape."""
    app.state.dxkit_auth = authenticator
    app.add_exception_handler(AuthError, _auth_error)
    return authenticator


def build_authenticator(
    settings: Any,
    *,
    secret: str | bytes,
    clock: Callable[[], float] = time.time,
    jti_cache: JtiCache | None = None,
    announce: Callable[[str], None] | None = None,
) -> Authenticator:
    """The authenticator the settings describe; dev mode makes a throwaway key if none.

    Reads ``jwt_public_key_file`` / ``jwt_jwks_file``, ``jwt_issuer``, ``jwt_audience``,
    ``jwt_algorithms`` and ``jwt_leeway_s`` (``DXKIT_JWT_*``). Without keys the service
    refuses to start unless ``dev_mode`` is on: an unauthenticated service holding
    patient data must never come up by accident.
    """
    files = [getattr(settings, n, None) for n in ("jwt_public_key_file", "jwt_jwks_file")]
    audience = str(getattr(settings, "jwt_audience", None) or "dxkit")
    algorithms = tuple(getattr(settings, "jwt_algorithms", None) or SUPPORTED_ALGORITHMS)
    leeway = int(getattr(settings, "jwt_leeway_s", 30))
    issuer = getattr(settings, "jwt_issuer", None)
    keys = tuple(k for f in files if f is not None for k in load_verify_keys(Path(f)))
    if not keys and getattr(settings, "dev_mode", False):
        from dxkit.service import devkeys

        dev = devkeys.DevKey.generate()
        devkeys.announce(dev, audience=audience, write=announce)
        keys, issuer = (dev.verify_key,), devkeys.DEV_ISSUER
    if not keys or not issuer:
        raise InputError(
            "authentication",
            expected="DXKIT_JWT_PUBLIC_KEY_FILE or DXKIT_JWT_JWKS_FILE, and DXKIT_JWT_ISSUER",
            found="no verification key" if not keys else "no issuer",
            fix="configure the identity provider's public key and issuer "
            "(DXKIT_DEV_MODE=1 makes a local key, for trying it out only)",
        )
    config = AuthConfig(keys, str(issuer), audience, secret, algorithms, leeway)
    return Authenticator(config, jti_cache=jti_cache, clock=clock)
