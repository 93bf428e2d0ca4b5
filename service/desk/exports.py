"""Downloads built for a caller: the leak list as CSV, and the file type every export returns."""

import csv
import io
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO

from sqlmodel import Session

from service.access import audit
from service.access.actors import Actor
from service.desk import leaks
from service.desk.leaks import LeakOrder
from service.desk.reports import LeakSummary
from service.errors import ExportTooLarge
from service.paging import MAX_LIMIT
from storage.repositories.leaks import LeakFilter

# Exports are assembled in a spooled file: small ones never touch the disk, large ones (an
# evidence bundle with many images) do not have to fit in memory.
SPOOL_BYTES = 16 * 1024 * 1024
CHUNK_BYTES = 64 * 1024

# The whole CSV is built before the answer is sent, so that the request's one commit (with the
# audit record) happens first; the cap keeps that bounded. Past it, the caller narrows the filters.
MAX_CSV_ROWS = 50_000

# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# The same once the cell's first visible character is folded (NFKC: the full-width and small forms
# of = + - @ |), with `|` (DDE) and the minus sign: spreadsheets read these as formulas too, past
# leading blanks, invisible characters and an opening double quote.
FORMULA_STARTS = frozenset("=+-@|\u2212")
# Letters that draw nothing (Hangul fillers, blank Braille) but are neither spaces nor format
# characters, so the category checks below would not skip them.
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")

CSV_COLUMNS = (
    "id",
    "status",
    "asset_id",
    "asset_name",
    "product",
    "embargo_until",
    "first_seen_at",
    "lead_time_seconds",
    "first_page_url",
    "first_image_url",
    "first_domain",
    "first_account",
    "first_found_at",
    "first_received_at",
    "last_seen_at",
    "sightings_count",
    "domains",
    "best_score",
    "assignee",
)


@dataclass
class Download:
    """A finished export, positioned at its start; `chunks()` reads it once and closes it."""

    filename: str
    media_type: str
    size: int
    file: IO[bytes]

    def chunks(self) -> Iterator[bytes]:
        try:
            while chunk := self.file.read(CHUNK_BYTES):
                yield chunk
        finally:
            self.file.close()

    def read_all(self) -> bytes:
        return b"".join(self.chunks())


def spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # closed by the Download


def finish(file: IO[bytes], filename: str, media_type: str) -> Download:
    size = file.tell()
    file.seek(0)
    return Download(filename=filename, media_type=media_type, size=size, file=file)


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, made plain text by a leading quote."""
    if cell.startswith(FORMULA_TRIGGERS) or _first_visible(cell) in FORMULA_STARTS:
        return "'" + cell
    return cell


def _first_visible(cell: str) -> str:
    """The cell's first character that is not blank, invisible or a double quote, folded."""
    for char in cell:
        folded = unicodedata.normalize("NFKC", char)
        if (
            folded.isspace()
            or folded == '"'
            or char in INVISIBLE_LETTERS
            or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")
        ):
            continue
        return folded[:1]
    return ""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def _row(leak: LeakSummary) -> list[str]:
    first = leak.first_source
    values: list[object] = [
        leak.id,
        leak.status,
        leak.asset.id,
        leak.asset.name,
        leak.asset.product,
        leak.asset.embargo_until,
        leak.first_seen_at,
        leak.lead_time_seconds,
        first.page_url,
        first.image_url,
        first.domain,
        first.account,
        first.found_at,
        first.received_at,
        leak.last_seen_at,
        leak.sightings_count,
        leak.domains,
        leak.best_score,
        leak.assignee,
    ]
    return [neutralise(_cell(v)) for v in values]


def _all_leaks(
    session: Session, leak_filter: LeakFilter, order: LeakOrder
) -> Iterator[LeakSummary]:
    """Every leak the filter matches, in the list's order, a page at a time."""
    cursor: str | None = None
    while True:
        page = leaks.list_leaks(session, leak_filter, cursor=cursor, limit=MAX_LIMIT, order=order)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def leaks_csv(
    session: Session,
    actor: Actor,
    leak_filter: LeakFilter,
    order: LeakOrder = LeakOrder.ACTIVITY,
    *,
    now: datetime,
) -> Download:
    """The leak list with the JSON list's filters and order, every matching row (up to
    MAX_CSV_ROWS), one header row; recorded in the audit log."""
    file = spool()
    try:
        rows = _write_csv(file, _all_leaks(session, leak_filter, order))
    except BaseException:
        file.close()
        raise
    filters = {k: str(v) for k, v in asdict(leak_filter).items() if v is not None}
    audit.record(
        session,
        actor,
        "leak.export_csv",
        "leak_list",
        "",
        at=now,
        rows=rows,
        sort=order.value,
        **filters,
    )
    return finish(file, "leaks.csv", "text/csv; charset=utf-8")


def _write_csv(file: IO[bytes], items: Iterable[LeakSummary]) -> int:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for leak in items:
        rows += 1
        if rows > MAX_CSV_ROWS:
            raise ExportTooLarge(
                f"more than {MAX_CSV_ROWS} leaks match; narrow the filters "
                "(status, asset_id, product, domain, since, until) and export in parts"
            )
        writer.writerow(_row(leak))
        if buffer.tell() >= CHUNK_BYTES:
            file.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    file.write(buffer.getvalue().encode())
    return rows
