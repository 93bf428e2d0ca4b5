"""Source URLs that crawlers send: validation and the domain they are grouped by."""

from urllib.parse import urlsplit

from service.errors import InvalidInput

MAX_URL_LENGTH = 4096


def checked_url(url: str, field: str) -> str:
    """The URL as sent (it is evidence), once it is known to be an absolute http(s) URL."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"{field} is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{field} must be an absolute http or https URL")
    return url


def domain_of(url: str) -> str:
    """Host name, lower case, without a leading `www.`: the unit sources are counted by."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    return host.removeprefix("www.")
