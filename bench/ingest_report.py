"""The ingestion benchmark's markdown report."""

from typing import Any


def fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def ratio(rate: float, base: float) -> str:
    return f"{rate / base:.2f}x" if base == base else ""  # NaN when the baseline was skipped


def report(run: dict[str, Any]) -> str:
    base, base_cpu = run["baseline_images_per_second"], run["baseline_images_per_cpu_second"]
    lines = [
        f"Machine: {run['machine']['cores']} cores, {run['machine']['cpu']}, "
        f"Python {run['machine']['python']}; {run['date']}.",
        f"Command: `{run['command']}`",
        f"Server: `leaksentinel serve --workers {run['workers']}` on {run['database']}; "
        f"{run['clients']} clients, {run['warmup']:g} s warm-up then {run['duration']:g} s per "
        f"scenario; {run['images']} distinct 1080p JPEGs (mean {run['mean_bytes'] / 1024:,.0f} "
        f"KiB), {run['assets']} assets ({run['leaking']} of them among the found images).",
        "",
        "| scenario | requests | sightings acknowledged | sightings / s | requests / s | "
        "p50 ms | p99 ms | errors | vs baseline | per CPU-second | vs baseline per CPU-second "
        "| cores: server / client / others |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, b in (("before", run["baseline_before"]), ("after", run["baseline_after"])):
        if b is not None:
            lines.append(
                f"| baseline {label}: decode + pHash, {b['processes']} processes | | "
                f"{b['images']:,} images | {b['images_per_second']:,.1f} | | | | | "
                f"{ratio(b['images_per_second'], base)} | {b['images_per_cpu_second']:,.1f} | "
                f"{ratio(b['images_per_cpu_second'], base_cpu)} | "
                f"{b['cores']['baseline']:.2f} (baseline) / - / {b['cores']['other']:.2f} |"
            )
    for s in run["scenarios"]:
        c = s["cores"]
        per_cpu = s["sightings_per_second"] / c["server"] if c["server"] else float("nan")
        lines.append(
            f"| {s['label']} | {s['requests']:,} | {s['acknowledged']:,} | "
            f"{s['sightings_per_second']:,.1f} | {s['requests_per_second']:,.1f} | "
            f"{fmt(s['p50_ms'])} | {fmt(s['p99_ms'])} | {s['errors']} | "
            f"{ratio(s['sightings_per_second'], base)} | {per_cpu:,.1f} | "
            f"{ratio(per_cpu, base_cpu)} | "
            f"{c['server']:.2f} / {c['client']:.2f} / {c['other']:.2f} |"
        )
    lines += [
        "",
        f"Baseline for the ratios: {base:,.1f} images/s and {base_cpu:,.1f} images per CPU-second "
        "(means of before and after). Per CPU-second: sightings (or images) per second over the "
        "cores the server (or the baseline's processes) used in that time; it is the fairer "
        "ratio when other work takes part of the machine. Targets (issue 4): uploads >= 2x "
        "baseline, hash-only >= 5,000 sightings/s.",
        f"Check: `leaksentinel verify` {'passed' if run['verify_ok'] else 'FAILED'}: "
        f"{run['verify_output']}; sightings acknowledged in the run, warm-ups included: "
        f"{run['acknowledged_total']:,}"
        + (" (equal)." if run["verify_records"] == run["acknowledged_total"] else " (MISMATCH)."),
        f"Matching ran: {run['leak_sightings']:,} sightings in {run['leak_reports']} leak "
        f"reports (the found images of the {run['leaking']} leaking assets); matching caught up "
        f"{run.get('drain_seconds', 0):.1f} s after the last scenario's load ended.",
    ]
    for s in run["scenarios"]:
        for sample in s["error_samples"]:
            lines.append(f"- {s['scenario']} error: {sample}")
    return "\n".join(lines)
