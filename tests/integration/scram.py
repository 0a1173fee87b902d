"""SCRAM-SHA-256 (RFC 5802, RFC 7677) from the client's side, written for the tests from the
RFCs with nothing but hashlib, hmac and base64, and MQTT 5 enhanced authentication (section
4.12) driven over a raw connection (mqtt5_raw.RawClient5): the CONNECT exchange and
re-authentication. No channel binding (GS2 header "n,,"). Every read has a deadline (the
RawClient's).

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any, Optional

from mqtt5_raw import (AUTH, AUTHENTICATION_DATA, AUTHENTICATION_METHOD, CONNACK,
                       CONTINUE_AUTHENTICATION, DISCONNECT, Packet5, RawClient5, auth, connect)

METHOD = "SCRAM-SHA-256"
RE_AUTHENTICATE = 0x19


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


class ScramClient:
    """One client-side SCRAM-SHA-256 exchange: client_first(), then client_final(server_first),
    then verify_server_final(server_final)."""

    def __init__(self, user: str, password: str, nonce: Optional[str] = None):
        self.password = password
        self.nonce = nonce or _b64(os.urandom(18))
        saslname = user.replace("=", "=3D").replace(",", "=2C")
        self.gs2_header = "n,,"
        self.client_first_bare = f"n={saslname},r={self.nonce}"
        self.server_signature: Optional[bytes] = None

    def client_first(self) -> bytes:
        return (self.gs2_header + self.client_first_bare).encode()

    def client_final(self, server_first: bytes) -> bytes:
        """The client-final message answering `server_first` ("r=...,s=...,i=...")."""
        text = server_first.decode()
        attrs = dict(a.split("=", 1) for a in text.split(","))
        nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not nonce.startswith(self.nonce) or nonce == self.nonce:
            raise ValueError(f"server nonce does not extend the client's: {text!r}")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c={_b64(self.gs2_header.encode())},r={nonce}"
        auth_message = f"{self.client_first_bare},{text},{without_proof}".encode()
        proof = bytes(a ^ b for a, b in zip(client_key, _hmac(stored_key, auth_message)))
        self.server_signature = _hmac(_hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={_b64(proof)}".encode()

    def verify_server_final(self, server_final: Optional[bytes]) -> bool:
        """True if `server_final` is "v=<the ServerSignature this exchange expects>"."""
        if self.server_signature is None or not server_final or not server_final.startswith(b"v="):
            return False
        return hmac.compare_digest(base64.b64decode(server_final[2:]), self.server_signature)


def auth_props(data: bytes, method: str = METHOD) -> list:
    return [(AUTHENTICATION_METHOD, method), (AUTHENTICATION_DATA, data)]


def begin(client: RawClient5, client_id: str, scram: ScramClient, method: str = METHOD,
          **connect_kw: Any) -> Packet5:
    """Sends CONNECT carrying the client-first message; returns the server's answer, an AUTH
    (continue) or a CONNACK."""
    client.send(connect(client_id, props=auth_props(scram.client_first(), method), **connect_kw))
    return client.expect_any([AUTH, CONNACK], client.timeout)


def check_challenge(p: Packet5, method: str = METHOD) -> bytes:
    """The server-first message of an AUTH 0x18 [MQTT-4.12.0-2] naming `method` [MQTT-4.12.0-5]."""
    assert p.type == AUTH and p.reason_code == CONTINUE_AUTHENTICATION, \
        f"expected AUTH 0x18 with the server-first message [MQTT-4.12.0-2], got {p}"
    assert p.props.get(AUTHENTICATION_METHOD) == method, \
        f"AUTH names the CONNECT's Authentication Method [MQTT-4.12.0-5]: {p}"
    data = p.props.get(AUTHENTICATION_DATA)
    assert data, f"AUTH 0x18 carries the server-first message as Authentication Data: {p}"
    return data


def connect_scram(client: RawClient5, client_id: str, user: str, password: str,
                  **connect_kw: Any) -> tuple[Packet5, ScramClient]:
    """The whole CONNECT exchange: CONNECT (client-first) → AUTH 0x18 (server-first) → AUTH 0x18
    (client-final) → CONNACK. Returns the CONNACK, whatever its reason code, and the exchange
    (to check the server's signature with)."""
    scram = ScramClient(user, password)
    first = begin(client, client_id, scram, **connect_kw)
    if first.type == CONNACK:
        return first, scram
    server_first = check_challenge(first)
    client.send(auth(CONTINUE_AUTHENTICATION, auth_props(scram.client_final(server_first))))
    return client.expect(CONNACK, what="end of the SCRAM exchange"), scram


def reauthenticate(client: RawClient5, user: str, password: str,
                   method: str = METHOD) -> tuple[Packet5, ScramClient]:
    """Re-authentication [MQTT-4.12.1-1]: AUTH 0x19 (client-first) → AUTH 0x18 (server-first) →
    AUTH 0x18 (client-final) → AUTH 0x00, or the DISCONNECT that ends it. Returns that last
    packet and the exchange."""
    scram = ScramClient(user, password)
    client.send(auth(RE_AUTHENTICATE, auth_props(scram.client_first(), method)))
    first = client.expect_any([AUTH, DISCONNECT], client.timeout)
    if first.type == DISCONNECT:
        return first, scram
    server_first = check_challenge(first, method)
    client.send(auth(CONTINUE_AUTHENTICATION, auth_props(scram.client_final(server_first), method)))
    return client.expect_any([AUTH, DISCONNECT], client.timeout), scram
