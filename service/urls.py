"""Source URLs that crawlers send: validation and the domain they are grouped by."""

import unicodedata
from urllib.parse import urlsplit

from service.errors import InvalidInput

MAX_URL_LENGTH = 4096
MAX_HOST_LENGTH = 253


def checked_url(url: str, field: str) -> str:
    """The URL as sent (it is evidence), once it is known to be an absolute http(s) URL."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"{field} is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        raise InvalidInput(f"{field} contains whitespace or a control character")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise InvalidInput(f"{field} is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise InvalidInput(f"{field} must be an absolute http or https URL")
    if len(host) > MAX_HOST_LENGTH or any(len(label) > 63 for label in host.split(".")):
        raise InvalidInput(f"{field} has a host name longer than DNS allows")
    return url


def domain_of(url: str) -> str:
    """Host name, lower case, without a leading `www.`: the unit sources are counted by."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    return host.removeprefix("www.")
