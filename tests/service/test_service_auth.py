"""JWT authentication: every rejection the issue lists, scopes, patient context, dev mode."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from dxkit.errors import InputError
from dxkit.service import devkeys
from dxkit.service.auth import (
    AuthConfig,
    Authenticator,
    InMemoryJtiCache,
    Principal,
    PrincipalDep,
    ReplayCacheFull,
    build_authenticator,
    check_patient_access,
    install_auth,
    key_for,
    load_verify_keys,
    require_scopes,
)
from dxkit.service.errors import install_error_handlers
from dxkit.service.settings import ServiceSettings
from dxkit.service.storage import pseudonym

ISSUER = "https://idp.example.org"
SECRET = "a-test-secret-of-32-bytes-000000"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture()
def key_files(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> SimpleNamespace:
    """The RSA key as PEM, the EC key in a JWKS (with a kid), as an IdP publishes them."""
    pem = tmp_path / "idp.pem"
    pem.write_bytes(public_pem(rsa_key))
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "ec-1", "use": "sig"}]}))
    return SimpleNamespace(
        jwt_public_key_file=pem, jwt_jwks_file=jwks, jwt_issuer=ISSUER, dev_mode=False
    )


Clinician = Annotated[Principal, Depends(require_scopes("clinician"))]
Admin = Annotated[Principal, Depends(require_scopes("admin"))]


def make_app(authenticator: Authenticator) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_auth(app, authenticator)

    @app.get("/v1/whoami")
    def whoami(principal: Clinician) -> dict[str, Any]:
        return {"actor": principal.actor_key, "scopes": sorted(principal.scopes)}

    @app.get("/v1/admin")
    def admin_only(principal: Admin) -> dict[str, str]:
        return {"actor": principal.actor_key}

    @app.get("/v1/patients/{patient_id}")
    def patient(patient_id: str, principal: PrincipalDep) -> dict[str, str]:
        check_patient_access(principal, patient_id)
        return {"ok": "yes"}

    return app


@pytest.fixture()
def client(key_files: SimpleNamespace) -> Iterator[TestClient]:
    with TestClient(make_app(build_authenticator(key_files, secret=SECRET))) as test_client:
        yield test_client


def token(
    key: Any, scopes: tuple[str, ...] = ("clinician",), patient: Any = "p-1", **kw: Any
) -> str:
    kw.setdefault("issuer", ISSUER)
    return devkeys.dev_token(scopes, patient, key, **kw)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hand_made(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b64(sign(signing_input.encode())) if sign else ""
    return f"{signing_input}.{signature}"


def good_claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": "dxkit", "sub": "dr-x", "exp": now + 600, "jti": str(now)}


def assert_rejected(client: TestClient, value: str, what: str, status: int = 401) -> None:
    response = client.get("/v1/whoami", headers=bearer(value))
    assert response.status_code == status, response.text
    assert response.json()["error"]["what"] == what
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="dxkit"')
    if status == 401:
        assert 'error="invalid_token"' in challenge
    assert value not in response.text and value not in challenge  # never echoed


def test_valid_rs256_and_es256_tokens_are_accepted(
    client: TestClient, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    for key in (rsa_key, ec_key):
        response = client.get("/v1/whoami", headers=bearer(token(key, subject="dr-who")))
        assert response.status_code == 200, response.text
        assert response.json() == {"actor": pseudonym("dr-who", SECRET), "scopes": ["clinician"]}


def test_principal_repr_holds_no_identifiers(ec_key: ec.EllipticCurvePrivateKey) -> None:
    config = AuthConfig((key_for(ec_key.public_key()),), ISSUER, "dxkit", SECRET)
    principal = Authenticator(config).verify(token(ec_key, subject="dr-raw", patient="pat-9"))
    assert "dr-raw" not in repr(principal) and "pat-9" not in repr(principal)
    assert principal.patients == {"pat-9"}
    assert principal.patient_keys == {pseudonym("pat-9", SECRET)}


def test_missing_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.get("/v1/whoami")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="dxkit"'
    assert response.json()["error"]["what"] == "authentication required"


def test_alg_none_is_rejected(client: TestClient) -> None:
    assert_rejected(
        client,
        hand_made({"alg": "none", "typ": "JWT"}, good_claims()),
        "token algorithm not accepted",
    )
    assert_rejected(
        client, hand_made({"alg": "none"}, good_claims()) + "AAAA", "token algorithm not accepted"
    )


def test_hs256_with_the_public_key_as_secret_is_rejected(
    client: TestClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    pem = public_pem(rsa_key)  # what an attacker can download from the IdP
    forged = hand_made(
        {"alg": "HS256", "typ": "JWT"},
        good_claims(),
        lambda data: hmac.new(pem, data, hashlib.sha256).digest(),
    )
    assert_rejected(client, forged, "token algorithm not accepted")
    plain = jwt.encode(good_claims(), "a-shared-secret-of-enough-length", algorithm="HS256")
    assert_rejected(client, plain, "token algorithm not accepted")


def test_symmetric_algorithms_cannot_be_configured(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(InputError, match="JWT algorithms: expected a non-empty subset"):
        AuthConfig((key_for(ec_key.public_key()),), ISSUER, "dxkit", SECRET, ("HS256",))


@pytest.mark.parametrize(
    ("overrides", "what"),
    [
        ({"now": time.time() - 7200}, "token expired"),
        ({"nbf": int(time.time()) + 600}, "token not yet valid"),
        ({"audience": "another-service"}, "wrong audience"),
        ({"issuer": "https://evil.example"}, "wrong issuer"),
        ({"sub": None}, "missing claim sub"),
        ({"jti": None}, "missing claim jti"),
        ({"exp": None}, "missing claim exp"),
        ({"exp": "tomorrow"}, "malformed token"),
    ],
)
def test_claims_are_enforced(
    client: TestClient, ec_key: ec.EllipticCurvePrivateKey, overrides: dict[str, Any], what: str
) -> None:
    assert_rejected(client, token(ec_key, **overrides), what)


def test_missing_audience_claim_is_rejected(
    client: TestClient, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    claims = {k: v for k, v in good_claims().items() if k != "aud"}
    assert_rejected(client, jwt.encode(claims, ec_key, algorithm="ES256"), "missing claim aud")


def test_replayed_jti_is_rejected(client: TestClient, ec_key: ec.EllipticCurvePrivateKey) -> None:
    once = token(ec_key)
    assert client.get("/v1/whoami", headers=bearer(once)).status_code == 200
    assert_rejected(client, once, "token replayed")


def test_foreign_signature_and_garbage_are_rejected(client: TestClient) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert_rejected(client, token(stranger), "invalid signature")
    assert_rejected(client, "not-a-jwt", "malformed token")
    assert_rejected(client, "x" * 9000, "token too large")


def test_scopes_give_403_and_admin_satisfies_all(
    client: TestClient, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    response = client.get("/v1/admin", headers=bearer(token(ec_key)))
    assert response.status_code == 403
    assert response.json()["error"]["what"] == "insufficient scope"
    assert 'error="insufficient_scope", scope="admin"' in response.headers["WWW-Authenticate"]
    assert client.get("/v1/whoami", headers=bearer(token(ec_key, ()))).status_code == 403
    for path in ("/v1/admin", "/v1/whoami"):
        assert client.get(path, headers=bearer(token(ec_key, ("admin",)))).status_code == 200
    scp = token(ec_key, (), scp=["clinician"])  # Azure-style list claim
    assert client.get("/v1/whoami", headers=bearer(scp)).status_code == 200


def test_clinicians_see_only_patients_in_context(
    client: TestClient, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    def get(wanted: str, **kw: Any) -> int:
        return client.get(f"/v1/patients/{wanted}", headers=bearer(token(ec_key, **kw))).status_code

    context = ["p-1", "Patient/p-2"]
    assert get("p-1", patient=context) == 200
    assert get("p-2", patient=context) == 200
    assert get("p-3", patient=context) == 403
    assert get("p-1", patient="p-1") == 200
    assert get("p-1", patient=None) == 403
    assert get("p-3", scopes=("admin",), patient=None) == 200
    response = client.get("/v1/patients/p-3", headers=bearer(token(ec_key)))
    assert response.json()["error"]["what"] == "patient not in context"


def test_patient_access_by_pseudonym(ec_key: ec.EllipticCurvePrivateKey) -> None:
    config = AuthConfig((key_for(ec_key.public_key()),), ISSUER, "dxkit", SECRET)
    principal = Authenticator(config).verify(token(ec_key, patient="p-7"))
    check_patient_access(principal, patient_key=pseudonym("p-7", SECRET))
    with pytest.raises(Exception, match="patient not in context"):
        check_patient_access(principal, patient_key=pseudonym("p-8", SECRET))
    with pytest.raises(ValueError, match="unknown scopes"):
        require_scopes("clinican")


def test_jti_cache_forgets_expired_tokens_and_is_bounded() -> None:
    now = [1000.0]
    cache = InMemoryJtiCache(max_entries=2, clock=lambda: now[0])
    assert cache.add("a", 1010.0) and not cache.add("a", 1010.0)
    assert cache.add("b", 1100.0)
    with pytest.raises(ReplayCacheFull):
        cache.add("c", 1100.0)  # full of live tokens: refuse rather than forget one
    now[0] = 1011.0
    assert cache.add("c", 1100.0) and len(cache) == 2  # "a" expired and left


def test_key_files_are_validated(tmp_path: Path, key_files: SimpleNamespace) -> None:
    assert [k.algorithm for k in load_verify_keys(key_files.jwt_jwks_file)] == ["ES256"]
    oct_jwks = tmp_path / "oct.json"
    oct_jwks.write_text(json.dumps({"keys": [{"kty": "oct", "k": b64(b"0" * 32)}]}))
    with pytest.raises(InputError, match="a PEM public key or a JWKS of RSA/EC public keys"):
        load_verify_keys(oct_jwks)
    weak = tmp_path / "weak.pem"
    weak.write_bytes(public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    with pytest.raises(InputError, match="RSA key of at least 2048 bits"):
        load_verify_keys(weak)
    with pytest.raises(InputError, match="nothing readable at"):
        load_verify_keys(tmp_path / "absent.pem")
    no_issuer = SimpleNamespace(jwt_public_key_file=key_files.jwt_public_key_file)
    with pytest.raises(InputError, match="found no issuer"):
        build_authenticator(no_issuer, secret=SECRET)


def test_dev_mode_is_off_by_default_and_then_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DXKIT_DEV_MODE", raising=False)
    settings = ServiceSettings(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert settings.dev_mode is False
    with pytest.raises(InputError, match="authentication: expected DXKIT_JWT_PUBLIC_KEY_FILE"):
        build_authenticator(settings, secret=SECRET)
    assert capsys.readouterr().err == ""  # no key printed


def test_dev_mode_prints_a_working_key_and_token_once(capsys: pytest.CaptureFixture[str]) -> None:
    authenticator = build_authenticator(SimpleNamespace(dev_mode=True), secret=SECRET)
    printed = capsys.readouterr().err
    assert printed.count(devkeys.WARNING) == 1
    assert "Never use dev mode with real patients" in printed
    assert "BEGIN PUBLIC KEY" in printed and "BEGIN PRIVATE KEY" in printed
    sample = printed.split("usable once:\n")[1].splitlines()[0]
    with TestClient(make_app(authenticator)) as client:
        response = client.get("/v1/whoami", headers=bearer(sample))
        assert response.status_code == 200, response.text
        assert client.get("/v1/patients/p-1", headers=bearer(sample)).status_code == 401
    claims = jwt.decode(sample, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600 and claims["patient"] == "p-1"
    assert capsys.readouterr().err == ""  # printed at start only, not per request


def test_devkeys_main_mints_tokens_from_the_printed_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = devkeys.DevKey.generate()
    key_file = tmp_path / "dev-key.pem"
    key_file.write_text(dev.private_pem)
    assert devkeys.main(["--key", str(key_file), "--scope", "admin", "--patient", "p-4"]) == 0
    minted = capsys.readouterr().out.strip()
    config = AuthConfig((dev.verify_key,), devkeys.DEV_ISSUER, "dxkit", SECRET)
    principal = Authenticator(config).verify(minted)
    assert principal.is_admin and principal.patients == {"p-4"}
