"""Domain errors: what the service says went wrong, independent of any transport."""

from service.detection.errors import DomainError, ImageRejected, InvalidFingerprint, InvalidInput

__all__ = [
    "DomainError",
    "ImageRejected",
    "InvalidFingerprint",
    "InvalidInput",
]


class NotFound(DomainError):
    code = "not-found"


class AssetNotFound(NotFound):
    code = "asset-not-found"


class LeakNotFound(NotFound):
    code = "leak-not-found"


class SightingNotFound(NotFound):
    code = "sighting-not-found"


class KeyNotFound(NotFound):
    code = "key-not-found"


class WebhookNotFound(NotFound):
    code = "webhook-not-found"


class InvalidCursor(InvalidInput):
    code = "invalid-cursor"


class Conflict(DomainError):
    code = "conflict"


class DuplicateAsset(Conflict):
    code = "duplicate-asset"

    def __init__(self, detail: str, existing_id: str) -> None:
        super().__init__(detail)
        self.existing_id = existing_id


class InvalidTransition(Conflict):
    code = "invalid-transition"


class NotAuthenticated(DomainError):
    code = "not-authenticated"


class ExportTooLarge(InvalidInput):
    """More rows than one export may hold; the caller narrows the filters."""

    code = "export-too-large"


class RateLimited(DomainError):
    """A key over its requests-per-minute limit; `retry_after` is in whole seconds."""

    code = "rate-limited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
