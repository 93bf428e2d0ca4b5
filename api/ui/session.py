"""Dashboard sessions: the signed session cookie, its secret, and the CSRF token bound to it."""

import base64
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from uuid import UUID

from fastapi import Request, Response

from service.runtime import Clock
from service.settings import Settings
from storage.keyfile import kept_secret

log = logging.getLogger(__name__)

COOKIE = "leaksentinel_ui"
COOKIE_PATH = "/ui"
SIGNING_KEY_FILE = "ui-session.key"
# A session not yet signed in (the login form's CSRF binding) lives this long.
ANONYMOUS_SECONDS = 2 * 3600


@dataclass(frozen=True)
class UiSession:
    """What the cookie holds: the key's id (never the key), a random nonce the CSRF token is
    derived from, and when it was issued."""

    key_id: UUID | None
    nonce: str
    issued_at: float

    @property
    def signed_in(self) -> bool:
        return self.key_id is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, secret: bytes, session_seconds: float, clock: Clock) -> None:
        self._secret = secret
        self.session_seconds = session_seconds
        self._clock = clock

    def _mac(self, purpose: str, value: str) -> str:
        # The purpose keeps a CSRF token from ever being valid as a cookie signature, and back.
        message = f"{purpose}|{value}".encode()
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest())

    def new(self, key_id: UUID | None) -> UiSession:
        return UiSession(key_id, _b64(secrets.token_bytes(18)), self._clock().timestamp())

    def dump(self, session: UiSession) -> str:
        fields = [str(session.key_id) if session.key_id else None, session.nonce, session.issued_at]
        payload = _b64(json.dumps(fields, separators=(",", ":")).encode())
        return f"{payload}.{self._mac('session', payload)}"

    def load(self, cookie: str | None) -> UiSession | None:
        """The session in `cookie`, or None if it is missing, altered or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac("session", payload).encode()):
            return None
        try:
            key_text, nonce, issued_at = json.loads(_unb64(payload))
            key_id = UUID(key_text) if key_text is not None else None
        except (ValueError, TypeError):
            return None
        if not isinstance(nonce, str) or not isinstance(issued_at, int | float):
            return None
        lifetime = self.session_seconds if key_id is not None else ANONYMOUS_SECONDS
        if not 0 <= self._clock().timestamp() - issued_at <= lifetime:
            return None
        return UiSession(key_id, nonce, float(issued_at))

    def csrf_token(self, session: UiSession) -> str:
        return self._mac("csrf", session.nonce)

    def csrf_ok(self, session: UiSession | None, token: str) -> bool:
        expected = self.csrf_token(session).encode() if session else b""
        return bool(expected) and hmac.compare_digest(token.encode(), expected)


def set_cookie(response: Response, request: Request, signer: Signer, session: UiSession) -> None:
    lifetime = signer.session_seconds if session.signed_in else ANONYMOUS_SECONDS
    response.set_cookie(
        COOKIE,
        signer.dump(session),
        max_age=int(lifetime),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        # Over plain http (a developer's localhost) a Secure cookie would never come back.
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def signer_for(settings: Settings, clock: Clock) -> Signer:
    secret = settings.ui_session_secret.encode()
    if not secret:
        try:
            secret = kept_secret(
                settings.data_dir, SIGNING_KEY_FILE, lambda: secrets.token_urlsafe(48)
            )
        except OSError:
            # A read-only data folder must not keep the API from starting: the dashboard then
            # signs with a secret of this process, and its sessions end with it.
            log.warning(
                "cannot keep a dashboard session secret in %s; set "
                "LEAKSENTINEL_UI_SESSION_SECRET to share sessions across processes",
                settings.data_dir,
                exc_info=True,
            )
            secret = secrets.token_bytes(32)
    return Signer(secret, settings.ui_session_hours * 3600, clock)
