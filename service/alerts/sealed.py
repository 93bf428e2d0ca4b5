"""Webhook signing secrets at rest: sealed with a key the database does not hold.

The worker needs each endpoint's secret in the clear to sign a delivery, so it cannot be hashed
like an API key; it is encrypted instead (Fernet: AES-128-CBC and HMAC-SHA256, from the
`cryptography` library). A copy of the database, a backup or a replica dump then tells no one
how to forge an alert. The key comes from LEAKSENTINEL_SECRETS_KEY (several keys, comma
separated, let an operator rotate: the first seals, any opens), or else from a key file made in
the data folder on first use, 0600, that every process of one host shares."""

from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlmodel import Session

from service.settings import Settings
from storage.keyfile import kept_secret
from storage.repositories import webhooks as webhooks_repo

KEY_FILE = "secrets.key"
PREFIX = "fernet:"  # a stored secret without it is plaintext from before sealing


class SecretUnreadable(Exception):
    """A sealed secret that none of the configured keys opens (the key was changed or lost)."""


@dataclass(frozen=True)
class Sealer:
    keys: MultiFernet

    @classmethod
    def from_settings(cls, settings: Settings) -> "Sealer":
        given = [k.strip() for k in settings.secrets_key.split(",") if k.strip()]
        if not given:
            try:
                given = [kept_secret(settings.data_dir, KEY_FILE, _new_key).decode()]
            except OSError as exc:
                # Unlike the dashboard's key, this one cannot be made up per process: what it
                # seals must open after a restart, so the service refuses to start instead.
                raise RuntimeError(
                    f"cannot keep the webhook secrets key in {settings.data_dir} ({exc}); set "
                    "LEAKSENTINEL_SECRETS_KEY"
                ) from exc
        return cls(MultiFernet([Fernet(key) for key in given]))  # Settings checked them

    def seal(self, secret: str) -> str:
        return PREFIX + self.keys.encrypt(secret.encode()).decode("ascii")

    def unseal(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self.keys.decrypt(stored.removeprefix(PREFIX).encode("ascii")).decode()
        except InvalidToken as exc:
            raise SecretUnreadable(
                "the endpoint's signing secret was sealed with a key that is no longer "
                "configured (LEAKSENTINEL_SECRETS_KEY or the data folder's secrets.key)"
            ) from exc


def seal_plaintext(session: Session, sealer: Sealer) -> int:
    """Seals every secret still stored in the clear (endpoints registered before sealing, or
    sealed by nothing); returns how many. Idempotent, so every process may run it at start."""
    sealed = 0
    for hook in webhooks_repo.with_plaintext_secrets(session, PREFIX):
        hook.secret = sealer.seal(hook.secret)
        session.add(hook)
        sealed += 1
    session.flush()
    return sealed


def _new_key() -> str:
    return Fernet.generate_key().decode("ascii")
