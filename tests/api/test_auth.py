"""Access control: 401 without a valid key, 403 for the wrong role, admin passes everywhere."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from reelmine.api.auth import SESSION_COOKIE, make_session, read_session
from reelmine.data.keystore import KeyStore
from tests.api.conftest import bearer

# (method, path, roles allowed besides admin)
ENDPOINTS = [
    ("GET", "/v1/me", {"service", "analyst"}),
    ("GET", "/v1/keys", set()),
    ("GET", "/v1/users/u1/recommendations", {"service"}),
    ("GET", "/v1/users/u1/rows", {"service"}),
    ("GET", "/v1/titles/t1/similar", {"service"}),
    ("DELETE", "/v1/users/u1", set()),
    ("GET", "/v1/service/traffic", {"analyst"}),
    ("GET", "/v1/service/latency", {"analyst"}),
    ("GET", "/v1/service/status", {"analyst"}),
]


@pytest.mark.parametrize(("method", "path", "allowed"), ENDPOINTS)
def test_role_matrix(
    client: TestClient, keys: dict[str, str], method: str, path: str, allowed: set[str]
) -> None:
    assert client.request(method, path).status_code == 401
    for role, key in keys.items():
        code = client.request(method, path, headers=bearer(key)).status_code
        if role == "admin" or role in allowed:
            assert code not in (401, 403), (role, path, code)
        else:
            assert code == 403, (role, path, code)


def test_401_body_and_header(client: TestClient) -> None:
    r = client.get("/v1/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer KEY" in r.json()["detail"]
    r = client.get("/v1/me", headers=bearer("rm_00000000_nope"))
    assert r.status_code == 401 and "invalid" in r.json()["detail"]


def test_403_names_the_roles(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/keys", headers=bearer(keys["analyst"]))
    assert r.status_code == 403
    assert r.json()["detail"] == "role 'analyst' may not use this endpoint; it needs one of: admin"


def test_x_api_key_header(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/me", headers={"X-API-Key": keys["service"]})
    assert r.status_code == 200
    assert r.json()["role"] == "service" and r.json()["via"] == "header"


def test_revoked_key_is_refused_at_once(client: TestClient, keys: dict[str, str]) -> None:
    created = client.post(
        "/v1/keys", json={"role": "service", "label": "tmp"}, headers=bearer(keys["admin"])
    )
    assert created.status_code == 201
    new_key, key_id = created.json()["key"], created.json()["key_id"]
    assert client.get("/v1/me", headers=bearer(new_key)).json()["key_id"] == key_id
    assert client.delete(f"/v1/keys/{key_id}", headers=bearer(keys["admin"])).json()["revoked_at"]
    assert client.get("/v1/me", headers=bearer(new_key)).status_code == 401
    assert client.delete("/v1/keys/nope0000", headers=bearer(keys["admin"])).status_code == 404


def test_cookie_is_not_enough_to_change_state(client: TestClient, keys: dict[str, str]) -> None:
    client.post("/login", data={"api_key": keys["admin"]})
    assert client.get("/v1/keys").status_code == 200  # GET with the session works
    r = client.post("/v1/keys", json={"role": "admin"})  # POST needs the key itself
    assert r.status_code == 401


def test_session_signature_expiry_and_revocation(tmp_path) -> None:
    store = KeyStore(tmp_path)
    _, rec = store.create("analyst")
    secret = b"s" * 32
    value = make_session(secret, rec, now=1000.0)
    assert read_session(secret, value, store, now=1001.0).key_id == rec.key_id
    assert read_session(secret, value, store, now=time.time() + 10**9) is None  # expired
    assert read_session(b"x" * 32, value, store, now=1001.0) is None  # other secret
    forged = value.replace(".analyst.", ".admin.")
    assert read_session(secret, forged, store, now=1001.0) is None
    store.revoke(rec.key_id)
    assert read_session(secret, value, store, now=1001.0) is None


def test_forged_cookie_gives_401(client: TestClient) -> None:
    client.cookies.set(SESSION_COOKIE, "v1.deadbeef.admin.9999999999.00")
    assert client.get("/v1/service/traffic").status_code == 401
