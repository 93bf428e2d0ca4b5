"""Source URLs that crawlers send: validation, the normal form they are grouped by, their domain."""

import re
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import canonicalize_url, url_query_cleaner

from service.errors import InvalidInput

MAX_URL_LENGTH = 4096
MAX_HOST_LENGTH = 253
# Whitespace (as str.isspace sees it) and the C0 and C1 controls: Unicode category Cc exactly.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def checked_url(url: str, field: str) -> str:
    """The URL as sent (it is evidence), once it is known to be an absolute http(s) URL."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"{field} is longer than {MAX_URL_LENGTH} characters")
    if _SPACE_OR_CONTROL.search(url):
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


# Query parameters that say how a reader arrived, not what the page is.
TRACKING_PARAMETERS = ("fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid")
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalised(url: str) -> str:
    """The form two URLs of one page share: w3lib's canonical URL (query sorted, escapes
    normalised, fragment dropped, host lower case and IDNA), without user info, a default port,
    a trailing root slash or tracking parameters. Used to group and deduplicate; never shown as evidence."""
    parts = urlsplit(canonicalize_url(url))
    if tracking := [p for p in _query_names(parts.query) if _is_tracking(p)]:
        parts = urlsplit(url_query_cleaner(urlunsplit(parts), tracking, remove=True))
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    if parts.port is not None and DEFAULT_PORTS.get(parts.scheme) != parts.port:
        netloc += f":{parts.port}"
    path = "" if parts.path == "/" else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


def _query_names(query: str) -> list[str]:
    return [pair.split("=", 1)[0] for pair in query.split("&") if pair]


def _is_tracking(name: str) -> bool:
    return name.startswith("utm_") or name in TRACKING_PARAMETERS
