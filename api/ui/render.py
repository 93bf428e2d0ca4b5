"""Rendering dashboard pages: the autoescaped Jinja2 environment and every page's headers."""

from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from api.ui import present

# Pages hold confidential material and untrusted text: nothing inline may run, nothing may be
# loaded from elsewhere, no other site may frame them, and no browser or proxy keeps a copy.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=PackageLoader("api", "templates"),
    # Every value is escaped unless a template says otherwise, and none does.
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    when=present.when,
    duration=present.duration,
    lead_time=present.lead_time,
    score=present.score,
    safe_href=present.safe_href,
)
_env.globals.update(STATUS_LABELS=present.STATUS_LABELS, ACTION_LABELS=present.ACTION_LABELS)


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
