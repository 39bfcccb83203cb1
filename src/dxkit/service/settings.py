"""The service's configuration, read from ``DXKIT_*`` environment variables.

One typed class, validated when built, so a deployment's typo (``DXKIT_PORT=80OO``) stops
the service at start with a clear message instead of surfacing as odd behaviour later.
Every default is the safe one: loopback only, CORS closed, bodies capped at 1 MiB, dev
mode off, and no way in without a bearer token signed by a configured key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dxkit.errors import InputError

MIB = 1024 * 1024
SECRET_BYTES = 16  # the storage layer's minimum for pseudonym keys
JWT_ALGORITHMS = ("RS256", "ES256")  # asymmetric only: see dxkit.service.auth


class ServiceSettings(BaseSettings):
    """Settings of ``dxkit serve``; each field ``x`` is read from ``DXKIT_X``.

    ``cors_origins`` and ``jwt_algorithms`` take comma-separated lists
    (``DXKIT_CORS_ORIGINS=https://a,https://b``); empty origins keep cross-origin browser
    access closed. Tokens are verified with the keys of ``jwt_public_key_file`` and/or
    ``jwt_jwks_file`` and must name ``jwt_issuer`` and ``jwt_audience``; without keys the
    service refuses to start unless ``dev_mode`` makes a throwaway one.
    """

    model_config = SettingsConfigDict(env_prefix="DXKIT_", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="interface to bind; loopback unless exposed")
    port: int = Field(8000, ge=1, le=65535)
    model_dir: Path | None = Field(
        None, description="saved model directory; none = the default model (trained once)"
    )
    database_url: str = Field(
        default_factory=lambda: _default_database_url(),
        min_length=1,
        description="SQLAlchemy URL; default: a SQLite file under $DXKIT_HOME",
    )
    max_body_bytes: int = Field(MIB, ge=1024, le=64 * MIB, description="larger bodies get 413")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS; empty = closed"
    )
    top: int = Field(5, ge=1, le=50, description="conditions per answer unless a request asks")
    evidence: int = Field(0, ge=0, le=10, description="top conditions explained per answer")
    dev_mode: bool = Field(False, description="developer conveniences; never in production")
    request_timeout_s: float = Field(
        30.0, gt=0, le=600, description="a diagnosis running longer answers 503"
    )
    worker_threads: int = Field(
        4, ge=1, le=64, description="diagnoses run at once (CPU-bound, off the event loop)"
    )
    backend: str = Field(
        "auto",
        pattern="^(auto|torch|onnx|int8)$",
        description="an encoder model's runtime: auto picks int8 > onnx > torch (exported)",
    )
    batch_window_ms: float = Field(
        2.0,
        ge=0,
        le=50,
        description="concurrent cases wait at most this long to share one model call (0: off)",
    )
    batch_max: int = Field(16, ge=1, le=256, description="cases in one micro-batch at most")
    log_level: str = Field("info", pattern="^(critical|error|warning|info|debug)$")
    patient_key_secret: SecretStr | None = Field(
        None,
        description="HMAC key turning patient and clinician ids into pseudonyms (16+ bytes); "
        "required unless dev mode, where a random one is generated for the run",
    )

    jwt_public_key_file: Path | None = Field(
        None, description="PEM public key (RSA >= 2048 bits or EC P-256) that verifies tokens"
    )
    jwt_jwks_file: Path | None = Field(
        None, description="JWKS file of the identity provider's public keys (kid-selected)"
    )
    jwt_issuer: str | None = Field(
        None, min_length=1, description="the 'iss' every token must carry (the IdP's URL)"
    )
    jwt_audience: str = Field(
        "dxkit", min_length=1, description="the 'aud' every token must carry (this service)"
    )
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(JWT_ALGORITHMS),
        description="accepted signature algorithms: RS256 and/or ES256 (never HS*, none)",
    )
    jwt_leeway_s: int = Field(
        30, ge=0, le=300, description="clock skew tolerated on exp/nbf, in seconds"
    )
    rate_limit_per_minute: float = Field(
        120.0, gt=0, le=1_000_000, description="sustained requests a minute per caller"
    )
    rate_limit_burst: int = Field(
        20, ge=1, le=100_000, description="requests a caller may make at once before 429"
    )

    @field_validator("patient_key_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Short keys make pseudonyms guessable by brute force over known patient ids.
        if value is not None and len(value.get_secret_value().encode("utf-8")) < SECRET_BYTES:
            raise ValueError(f"must be at least {SECRET_BYTES} bytes")
        return value

    @field_validator("cors_origins", "jwt_algorithms", mode="before")
    @classmethod
    def _split_comma_lists(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        # A wildcard would let any web page read answers with the user's credentials.
        if "*" in value:
            raise ValueError("'*' is not allowed: list the EHR origins explicitly")
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        # HS256 would let anyone holding the (public) verification key mint tokens.
        unsupported = sorted(set(value) - set(JWT_ALGORITHMS))
        if unsupported or not value:
            raise ValueError(f"must be a non-empty subset of {', '.join(JWT_ALGORITHMS)}")
        return value


def _default_database_url() -> str:
    """A SQLite file beside the cached default model: works with no database server."""
    from dxkit.models.default import dxkit_home

    return f"sqlite:///{(dxkit_home() / 'service.sqlite3').resolve()}"


def load_settings(**overrides: Any) -> ServiceSettings:
    """Settings from the environment with ``overrides`` on top, or one readable error.

    Why not let pydantic raise: its message lists every failing field with its input,
    which the CLI would print as a traceback; this names the variables to fix.
    """
    try:
        return ServiceSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        fields = ", ".join(
            f"DXKIT_{'.'.join(str(p) for p in err['loc']).upper()} ({err['msg']})"
            for err in exc.errors(include_input=False)
        )
        raise InputError(
            "service settings",
            expected="valid DXKIT_* environment variables and options",
            found=fields,
            fix="correct or unset the variables named",
        ) from None
