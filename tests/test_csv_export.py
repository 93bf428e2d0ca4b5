"""The leak list as CSV: a row per leak, the list's filters, every formula prefix neutralised."""

import csv
import io
from datetime import timedelta

import pytest

from service.desk import exports
from testing.images import jpeg
from tests.api_client import Api, auth
from tests.conftest import Clock


def csv_rows(api: Api, key: str | None = None, **params: str) -> list[dict[str, str]]:
    response = api.client.get(
        "/v1/leaks", params={"format": "csv", **params}, headers=auth(key or api.security)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="leaks.csv"'
    reader = csv.reader(io.StringIO(response.text))
    header = next(reader)
    assert tuple(header) == exports.CSV_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


def three_leaks(api: Api, clock: Clock) -> None:
    for seed, product in ((1, "SU7"), (2, "SU7"), (3, "Phone 15")):
        api.asset(jpeg(seed), product=product, name=f"asset {seed}")
    api.sighting(jpeg(1), page_url="https://a.example.com/1", account='=HYPERLINK("x")')
    clock.advance(timedelta(minutes=1))
    api.sighting(jpeg(2), page_url="https://b.example.com/2", account="-2+3")
    clock.advance(timedelta(minutes=1))
    api.sighting(jpeg(3), page_url="https://c.example.com/3", account="@everyone")


def test_csv_has_a_header_and_one_row_per_leak_with_formulas_neutralised(
    api: Api, clock: Clock
) -> None:
    three_leaks(api, clock)

    rows = csv_rows(api)

    assert [r["first_domain"] for r in rows] == ["c.example.com", "b.example.com", "a.example.com"]
    assert [r["first_account"] for r in rows] == ["'@everyone", "'-2+3", '\'=HYPERLINK("x")']
    json_ids = [leak["id"] for leak in api.leaks()]
    assert [r["id"] for r in rows] == json_ids
    assert rows[0]["sightings_count"] == "1" and rows[0]["status"] == "open"


# Formula starts that pass a check of the first character alone.
DISGUISED_FORMULAS = [
    '\uff1dHYPERLINK("https://evil.example/")',  # full-width =
    "\uff0b1+1",  # full-width +
    "\uff0d1+1",  # full-width -
    "\uff20SUM(A1)",  # full-width @
    "\u200b=cmd|' /C calc'!A0",  # a zero-width space before =
    "\ufeff\u2060+1+1",  # a byte-order mark and a word joiner before +
    "|cmd /C calc",  # DDE
    '"=1+1"',  # a quoted start
    "\u200e\uff5cx",  # a left-to-right mark before a full-width |
]


def test_csv_export_neutralises_disguised_formula_prefixes(api: Api, clock: Clock) -> None:
    # Each case both as a leak's asset name and as its first source's account.
    pairs = list(zip(DISGUISED_FORMULAS[::2], [*DISGUISED_FORMULAS[1::2], "@x"], strict=True))
    for seed, (name, account) in enumerate(pairs, start=1):
        api.asset(jpeg(seed), name=name)
        api.sighting(jpeg(seed), page_url=f"https://{seed}.example.com/p", account=account)
        clock.advance(timedelta(minutes=1))

    rows = csv_rows(api)

    assert len(rows) == len(pairs)
    cells = [cell for r in rows for cell in (r["asset_name"], r["first_account"])]
    assert sorted(cells) == sorted("'" + case for case in [*DISGUISED_FORMULAS, "@x"])


def test_csv_neutralises_formulas_behind_blanks() -> None:
    # Sent values are stripped of blanks before they are stored; a cell is checked as if not.
    for cell in (" =1+1", "\u3000+1", "\n@x", "\u00a0-1"):
        assert exports.neutralise(cell) == "'" + cell


def test_csv_leaves_ordinary_cells_alone() -> None:
    for cell in ("Prototype a=b", "2027-01-01T00:00:00+00:00", "https://x.example/a|b", "SU7"):
        assert exports.neutralise(cell) == cell


def test_csv_takes_the_list_filters_and_every_page(
    api: Api, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_leaks(api, clock)
    monkeypatch.setattr(exports, "MAX_LIMIT", 1)  # one leak per page: three pages

    assert len(csv_rows(api)) == 3
    assert [r["first_domain"] for r in csv_rows(api, sort="first_seen")] == [
        "a.example.com",
        "b.example.com",
        "c.example.com",
    ]
    assert {r["product"] for r in csv_rows(api, product="SU7")} == {"SU7"}
    assert len(csv_rows(api, product="SU7")) == 2
    assert [r["first_domain"] for r in csv_rows(api, domain="b.example.com")] == ["b.example.com"]


def test_csv_over_the_row_cap_is_refused(
    api: Api, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_leaks(api, clock)
    monkeypatch.setattr(exports, "MAX_CSV_ROWS", 2)

    response = api.client.get("/v1/leaks", params={"format": "csv"}, headers=auth(api.security))

    assert response.status_code == 422
    assert response.json()["type"].endswith("export-too-large")
    assert len(csv_rows(api, product="SU7")) == 2


def test_csv_export_is_audited_and_for_security_and_admin_only(api: Api, clock: Clock) -> None:
    three_leaks(api, clock)
    assert len(csv_rows(api, key=api.admin, status="open")) == 3

    events = api.client.get(
        "/v1/audit", params={"action": "leak.export_csv"}, headers=auth(api.admin)
    ).json()["items"]
    assert [(e["actor_name"], e["detail"]["rows"], e["detail"]["status"]) for e in events] == [
        ("bootstrap-admin", 3, "open")
    ]
    for key in (api.crawler, api.marketing):
        refused = api.client.get("/v1/leaks", params={"format": "csv"}, headers=auth(key))
        assert refused.status_code == 403
