"""The refusals detection itself raises; service/errors.py builds the rest of the domain's on them."""


class DomainError(Exception):
    """Base of every expected failure; `code` is a stable machine-readable name."""

    code = "domain-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DomainError):
    """A well-formed request whose values the domain refuses (a past embargo, a bad URL)."""

    code = "invalid-input"


class InvalidFingerprint(InvalidInput):
    code = "invalid-fingerprint"


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
