"""The load benchmark's numbers per kind of request, and its markdown report."""

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.ingest_report import fmt
from bench.load_clients import Sample


def percentiles(seconds: Sequence[float]) -> dict[str, float | None]:
    if not seconds:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ms = np.array(seconds) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


def summarise(samples: Sequence[Sample], kinds: Sequence[str], wall: float) -> dict[str, Any]:
    rows = {}
    for kind in [*kinds, "all"]:
        mine = [s for s in samples if s.kind == kind or (kind == "all" and s.kind in kinds)]
        ok = [s for s in mine if s.status is not None and 200 <= s.status < 300]
        rows[kind] = {
            "requests": len(mine),
            "ok": len(ok),
            "sightings": sum(s.acknowledged for s in ok),
            "sightings_per_second": sum(s.acknowledged for s in ok) / wall,
            "requests_per_second": len(mine) / wall,
            # Latency of the answered requests; a refused connection in kill mode has none.
            **percentiles([s.seconds for s in mine if s.status is not None]),
        }
    return rows


def status_counts(samples: Sequence[Sample]) -> dict[str, int]:
    counted = Counter("no answer" if s.status is None else str(s.status) for s in samples)
    return dict(sorted(counted.items()))


def table(rows: dict[str, dict[str, Any]], labels: dict[str, str], writes: bool) -> list[str]:
    head = "| kind | requests | requests / s | "
    head += "sightings acknowledged | sightings / s | " if writes else ""
    lines = [
        head + "p50 ms | p95 ms | p99 ms | max ms |",
        "|---" * (head.count("|") + 3) + "|",
    ]
    for kind, row in rows.items():
        cells = f"| {labels[kind]} | {row['requests']:,} | {row['requests_per_second']:,.1f} | "
        if writes:
            cells += f"{row['sightings']:,} | {row['sightings_per_second']:,.1f} | "
        cells += " | ".join(fmt(row[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")) + " |"
        lines.append(cells)
    return lines


def report(run: dict[str, Any]) -> str:
    r = run["result"]
    write_labels = {
        "single": "single upload",
        "batch": f"batch upload of {run['batch']}",
        "hash": f"hash-only batch of {run['hash_batch']}",
        "all": "all crawler writes",
    }
    read_labels = {
        "leaks": "`GET /v1/leaks`",
        "leak": "`GET /v1/leaks/{id}`",
        "sources": "`GET /v1/sources`",
        "all": "all security reads",
    }
    memory = r["memory"]
    lines = [
        f"Machine: {run['machine']['cores']} cores, {run['machine']['cpu']}, "
        f"Python {run['machine']['python']}; {run['date']}.",
        f"Command: `{run['command']}`",
        f"Server: `leaksentinel serve --workers {run['workers']}` on {run['database']}; "
        f"{run['crawlers']} crawlers (one key each, mix {run['mix']}) and {run['readers']} "
        f"security readers ({run['reader_pause']:g} s between reads); {run['warmup']:g} s warm-up, "
        f"then {run['duration']:g} s measured ({r['wall_seconds']:.1f} s until the last answer); "
        f"{r['images']} distinct 1080p JPEGs (mean {r['mean_bytes'] / 1024:,.0f} KiB); "
        f"{run['assets']} assets, {run['leaking']} of them among the found images. Rate limits "
        f"(per key per minute, per process): crawler {run['crawler_rate_limit']}, security "
        f"{run['security_rate_limit']}.",
        "",
        *table(r["writes"], write_labels, True),
        "",
        *table(r["reads"], read_labels, False),
        "",
        f"Answers by status: crawler writes {r['statuses_writes']}, security reads "
        f"{r['statuses_reads']}; errors {r['errors']}, 429 {r['rate_limited']}.",
    ]
    if r["cores"]:
        c = r["cores"]
        lines.append(
            f"Cores busy during the measured load (of {run['machine']['cores']}, from /proc): "
            f"server {c['server']:.2f}, this client {c['client']:.2f}, everything else on the "
            f"machine {c['other']:.2f}."
        )
    if memory["measured"]:
        lines.append(
            f"Server memory (VmRSS summed over {memory['processes']} processes): "
            f"{memory['start_mib']:,.0f} MiB after the warm-up, {memory['end_mib']:,.0f} MiB at "
            f"the end, peak {memory['peak_mib']:,.0f} MiB: growth {memory['growth_percent']:+.1f}% "
            f"({memory['growth_mib']['RssAnon']:+,.0f} MiB anonymous, "
            f"{memory['growth_mib']['RssFile']:+,.0f} MiB file-backed, "
            f"{memory['growth_mib']['RssShmem']:+,.0f} MiB shared)."
        )
    if r["kill"]:
        k = r["kill"]
        lines.append(
            f"Kill: SIGKILL to the server's process group {run['kill_after']:g} s into the "
            f"measured load, with {k['acknowledged_before_kill']:,} sightings acknowledged; ready "
            f"again {k['restart_seconds']:.1f} s later; {r['cut_off_by_kill']} requests got no "
            "answer across the kill (not counted as errors; their sightings are not acknowledged). "
            "Memory is not compared across the restart."
        )
    lines.append(
        f"Durability: {r['acknowledged']:,} sightings acknowledged with a 2xx in the whole run "
        f"(warm-up included), {r['stored']:,} stored, **{r['lost']} acknowledged but lost**; "
        f"`leaksentinel verify` {'passed' if r['verify_ok'] else 'FAILED'}: {r['verify_output']}"
        + (" (= stored)." if r["verify_records"] == r["stored"] else " (MISMATCH with stored).")
    )
    for sample in r["error_samples"]:
        lines.append(f"- error: {sample}")
    return "\n".join(lines)
