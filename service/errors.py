"""Domain errors: what the service says went wrong, independent of any transport."""


class DomainError(Exception):
    """Base of every expected failure; `code` is a stable machine-readable name."""

    code = "domain-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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


class InvalidInput(DomainError):
    """A well-formed request whose values the domain refuses (a past embargo, a bad URL)."""

    code = "invalid-input"


class InvalidCursor(InvalidInput):
    code = "invalid-cursor"


class InvalidFingerprint(InvalidInput):
    code = "invalid-fingerprint"


class Conflict(DomainError):
    code = "conflict"


class DuplicateAsset(Conflict):
    code = "duplicate-asset"

    def __init__(self, detail: str, existing_id: str) -> None:
        super().__init__(detail)
        self.existing_id = existing_id


class InvalidTransition(Conflict):
    code = "invalid-transition"


class ImageRejected(DomainError):
    """An upload that is not an image we accept; `reason` says which check refused it."""

    code = "image-rejected"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason

    def __reduce__(self) -> tuple[type["ImageRejected"], tuple[str, str]]:
        # Raised in a decode worker process and re-raised here, so it must survive pickling,
        # which by default would call __init__ with the detail alone.
        return type(self), (self.reason, self.detail)


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
