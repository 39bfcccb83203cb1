"""Dev mode's throwaway signing key, and tokens signed with it, for trying the service out.

Why a generated key and not a built-in one: a key shipped in the package would be
public, so any deployment that left dev mode on would accept anyone's tokens. This key
lives in memory for one run; it is printed once at start (with a sample clinician token)
so a developer can call the API, and it dies with the process. Dev mode is off by
default (``DXKIT_DEV_MODE``) and is never for real patients.

More tokens: save the printed private key to a file and run
``python -m dxkit.service.devkeys --key dev-key.pem --scope clinician --patient p-1``.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dxkit.service.auth import VerifyKey, key_for

DEV_ISSUER = "dxkit-dev"
DEV_AUDIENCE = "dxkit"
DEV_SUBJECT = "dev-clinician"
SAMPLE_LIFETIME_S = 3600
WARNING = (
    "WARNING: dxkit dev mode is ON. The key below was made for this run only; anyone "
    "holding it can act as any clinician. Never use dev mode with real patients."
)

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class DevKey:
    """An in-memory ES256 (P-256) key pair with a random key id."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    kid: str

    @classmethod
    def generate(cls) -> DevKey:
        """A fresh key pair; nothing is written to disk."""
        return cls(ec.generate_private_key(ec.SECP256R1()), f"dev-{uuid.uuid4().hex[:12]}")

    @property
    def verify_key(self) -> VerifyKey:
        """The public half, as the authenticator uses it."""
        return key_for(self.private_key.public_key(), self.kid)

    @property
    def public_pem(self) -> str:
        """The public key as PEM (SubjectPublicKeyInfo)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")  # fmt: skip

    @property
    def private_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM, to mint more tokens with."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")


def dev_token(
    scopes: Iterable[str],
    patient: str | Sequence[str] | None,
    key: DevKey | SigningKey,
    *,
    subject: str = DEV_SUBJECT,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
    lifetime_s: float = SAMPLE_LIFETIME_S,
    now: float | None = None,
    **claims: object,
) -> str:
    """A signed token: ES256 for EC keys, RS256 for RSA keys, a fresh ``jti`` each call.

    Args:
        scopes: e.g. ``["clinician"]``; written as the space-separated ``scope`` claim.
        patient: FHIR Patient id(s) of the clinician's context, or ``None``.
        key: the dev key, or any RSA / P-256 private key (tests use their own).
        subject, issuer, audience, lifetime_s, now: the standard claims' values.
        claims: extra or overriding claims; ``None`` drops one (to craft bad tokens).
    """
    issued = time.time() if now is None else now
    body: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": int(issued),
        "nbf": int(issued),
        "exp": int(issued + lifetime_s),
        "jti": uuid.uuid4().hex,
        "scope": " ".join(scopes),
    }
    if patient is not None:
        body["patient"] = patient if isinstance(patient, str) else list(patient)
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}  # None = drop
    private = key.private_key if isinstance(key, DevKey) else key
    algorithm = "ES256" if isinstance(private, ec.EllipticCurvePrivateKey) else "RS256"
    headers = {"kid": key.kid} if isinstance(key, DevKey) else None
    return jwt.encode(body, private, algorithm=algorithm, headers=headers)


def announce(
    key: DevKey,
    *,
    audience: str = DEV_AUDIENCE,
    patient: str = "p-1",
    write: Callable[[str], None] | None = None,
) -> None:
    """Print the warning, the keys and a sample clinician token (stderr by default).

    Called once, when the app is built: the printout is for the developer at the
    terminal, not for the log files, so it does not go through logging.
    """
    token = dev_token(["clinician"], patient, key, audience=audience)
    text = "\n".join(
        [
            WARNING,
            f"issuer: {DEV_ISSUER}   audience: {audience}   key id: {key.kid}",
            "public key (verifies tokens):",
            key.public_pem.strip(),
            "private key (signs tokens; this run only):",
            key.private_pem.strip(),
            f"sample clinician token for patient {patient}, valid 1 hour, usable once:",
            token,
            "more: python -m dxkit.service.devkeys --key FILE --scope clinician --patient ID",
        ]
    )
    (write or _stderr)(text + "\n")


def _stderr(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Mint a dev token from a saved dev private key; prints the token on stdout."""
    parser = argparse.ArgumentParser(prog="python -m dxkit.service.devkeys")
    parser.add_argument("--key", type=Path, required=True, help="the printed private key")
    parser.add_argument("--scope", action="append", choices=["clinician", "admin"])
    parser.add_argument("--patient", action="append", help="FHIR Patient id (repeatable)")
    parser.add_argument("--audience", default=DEV_AUDIENCE)
    parser.add_argument("--lifetime", type=float, default=SAMPLE_LIFETIME_S, help="seconds")
    args = parser.parse_args(argv)
    private = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        parser.error("--key must be an EC (P-256) or RSA private key")
    scopes = args.scope or ["clinician"]
    token = dev_token(
        scopes, args.patient, private, audience=args.audience, lifetime_s=args.lifetime
    )
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
