"""The summary of bench/compare.py: medians and spreads over rounds, ratios, the printed table.

Only ratios taken within one round count on a shared machine: `ours/peer` is the median
of the per-round ratios (both servers measured minutes apart at most, alternately first),
never the ratio of two medians.
"""

import statistics
from collections.abc import Iterable
from typing import Any

from compare_targets import OPAQUE_AUDIENCE, USERINFO_PEER

SERVERS = ("ours", "peer")
FIGURES = ("requests_per_second", "p50_ms", "p99_ms")
QUIET_STEAL_PERCENT = 5.0  # BENCH_QUIET_STEAL's default, for a JSON without the setting


def spread(values: Iterable[float]) -> dict[str, float] | None:
    """Median, min and max; None for no values."""
    data = sorted(values)
    if not data:
        return None
    return {"median": statistics.median(data), "min": data[0], "max": data[-1], "n": len(data)}


def summarize(endpoints: list[dict[str, Any]], rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per endpoint and server the spread of each figure, and the spread of ours/peer req/s."""
    summary: dict[str, Any] = {"endpoints": {}}
    for endpoint in endpoints:
        runs = [one["measurements"].get(endpoint["key"], {}) for one in rounds]
        entry: dict[str, Any] = {}
        for server in SERVERS:
            measured = [run[server] for run in runs if server in run]
            entry[server] = {figure: spread(m[figure] for m in measured) for figure in FIGURES}
        both = [run for run in runs if "ours" in run and "peer" in run]
        for figure in FIGURES:
            entry[f"ratio_{figure}"] = spread(
                run["ours"][figure] / run["peer"][figure] for run in both
            )
        summary["endpoints"][endpoint["key"]] = entry
    summary["tokens_per_sign"] = {
        server: spread(
            one["measurements"]["token"][server]["requests_per_second"]
            / one["openssl"]["sign_per_second"]
            for one in rounds
            if server in one["measurements"].get("token", {})
        )
        for server in SERVERS
    }
    summary["openssl_sign_per_second"] = spread(one["openssl"]["sign_per_second"] for one in rounds)
    return summary


def summarize_scale(runs: list[dict[str, Any]]) -> dict[str, Any]:
    by_workers: dict[int, list[float]] = {}
    for run in runs:
        by_workers.setdefault(run["workers"], []).append(run["result"]["requests_per_second"])
    return {str(workers): spread(rates) for workers, rates in sorted(by_workers.items())}


def _figure(value: dict[str, float] | None, digits: int) -> str:
    if value is None:
        return "-"
    median, low, high = (f"{value[k]:.{digits}f}" for k in ("median", "min", "max"))
    return f"{median} ({low}-{high})"


def _percent(value: dict[str, float] | None) -> str:
    if value is None:
        return "-"
    return f"{100 * value['median']:.1f} % ({100 * value['min']:.1f}-{100 * value['max']:.1f})"


def table(result: dict[str, Any]) -> str:
    """The whole printed report."""
    return "\n".join(
        [
            *_heading(result),
            "",
            *_endpoint_rows(result),
            "",
            *_ceiling_rows(result),
            "",
            *_round_rows(result),
            *_scale_rows(result),
            *_note_rows(result),
        ]
    )


def _heading(result: dict[str, Any]) -> list[str]:
    config, machine = result["config"], result["machine"]
    return [
        f"authserver ({machine['authserver']}) vs node-oidc-provider {machine['oidc_provider']} "
        f"(node {machine['node']}), {machine['nproc']} cores, {machine['date']}",
        f"{len(result['rounds'])} round(s), {config['seconds']} s per run after "
        f"{config['warmup_seconds']} s of warm-up; figures: median over rounds (min-max)",
    ]


def _endpoint_rows(result: dict[str, Any]) -> list[str]:
    header = [
        "endpoint (load)",
        "",
        "request",
        "req/s",
        "p50 ms",
        "p99 ms",
        "ours/peer req/s",
        "ours/peer p50",
    ]
    rows = [header]
    for endpoint in result["endpoints"]:
        entry = result["summary"]["endpoints"][endpoint["key"]]
        labels = [endpoint["title"], f"  ({endpoint['load']})"]
        for label, server in zip(labels, SERVERS, strict=True):
            figures = entry[server]
            if figures["requests_per_second"] is None:
                reason = endpoint["not_measured"].get(server, "not measured")
                rows.append([label, server, f"n/a: {reason}"])
                continue
            ratios = [entry["ratio_requests_per_second"], entry["ratio_p50_ms"]]
            rows.append(
                [
                    label,
                    server,
                    endpoint["requests"][server],
                    _figure(figures["requests_per_second"], 0),
                    _figure(figures["p50_ms"], 2),
                    _figure(figures["p99_ms"], 1),
                    *([_figure(ratio, 2) for ratio in ratios] if server == "ours" else ["", ""]),
                ]
            )
    return _aligned(rows)


def _aligned(rows: list[list[str]], right: tuple[int, ...] = ()) -> list[str]:
    """Columns padded to their widest cell; the last cell of a short row (an n/a reason) may
    overflow the columns after it."""
    widths: dict[int, int] = {}
    for row in rows:
        for index, cell in enumerate(row[:-1] if len(row) < len(rows[0]) else row):
            widths[index] = max(widths.get(index, 0), len(cell))
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths.get(i, 0)) if i in right else cell.ljust(widths.get(i, 0))
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _ceiling_rows(result: dict[str, Any]) -> list[str]:
    per_sign = result["summary"]["tokens_per_sign"]
    sign = result["summary"]["openssl_sign_per_second"]
    return [
        f"RSA-2048 ceiling: openssl speed -multi {result['machine']['nproc']} rsa2048, "
        f"{_figure(sign, 0)} sign/s",
        "client_credentials tokens/s as a share of sign/s (per round): "
        f"ours {_percent(per_sign['ours'])}, peer {_percent(per_sign['peer'])}",
    ]


def _round_rows(result: dict[str, Any]) -> list[str]:
    rows = [
        ["round", "first", "load avg start/end", "waited", "noisy", "steal %", "sign/s", "verify/s"]
    ]
    for one in result["rounds"]:
        quiet = one["quiet"]
        steal = one.get("steal_share")  # missing in JSON written before it was recorded
        rows.append(
            [
                str(one["round"]),
                one["order"][0],
                f"{quiet['load_average']:.2f} / {one['load_average_end']:.2f}",
                f"{quiet['waited_seconds']:.0f} s",
                "yes" if quiet["noisy"] else "no",
                "-" if steal is None else f"{100 * steal:.1f}",
                f"{one['openssl']['sign_per_second']:.0f}",
                f"{one['openssl']['verify_per_second']:.0f}",
            ]
        )
    return _aligned(rows, right=(3, 5, 6, 7))


def _scale_rows(result: dict[str, Any]) -> list[str]:
    scale = result.get("scale")
    if not scale or not scale["runs"]:
        return []
    sign = result["summary"]["openssl_sign_per_second"]
    rows = [["workers", "tokens/s", "per worker", "of sign/s"]]
    for workers, figures in scale["summary"].items():
        median = figures["median"]
        share = f"{100 * median / sign['median']:.1f} %" if sign else "-"
        rows.append([workers, _figure(figures, 0), f"{median / int(workers):.0f}", share])
    heading = (
        f"scale curve: authserver client_credentials POST /token ({scale['load']}), "
        f"{scale['passes']} pass(es); of sign/s: of the rounds' median"
    )
    return ["", heading, *_aligned(rows, right=(2, 3))]


def _note_rows(result: dict[str, Any]) -> list[str]:
    notes = result.get("notes", [])
    return ["", "notes:", *(f"- {note}" for note in notes)] if notes else []


def notes(result: dict[str, Any]) -> list[str]:
    responses, logs = result["responses"], result["server_log_problems"]
    found = [
        "introspection: ours introspects client_credentials JWTs (an RS256 verification and "
        f"one {result.get('our_database', 'SQLite')} lookup), asked by a client created with "
        "--introspect; the peer opaque "
        f"tokens for {OPAQUE_AUDIENCE} (one {result['peer_store']} lookup), asked by their own "
        "client (its JWT access tokens are not stored: it would answer active:false)",
        f"userinfo: {USERINFO_PEER}",
        f"JWKS: ours publishes {responses['jwks']['ours']['keys']} keys "
        f"({responses['jwks']['ours']['bytes']} bytes), the peer "
        f"{responses['jwks']['peer']['keys']} ({responses['jwks']['peer']['bytes']} bytes)",
        f"access tokens: ours {responses['token']['ours']['access_token_chars']} characters, "
        f"the peer {responses['token']['peer']['access_token_chars']}",
    ]
    noisy = [str(one["round"]) for one in result["rounds"] if one["quiet"]["noisy"]]
    if noisy:
        found.append(f"noisy rounds (load never fell below the threshold): {', '.join(noisy)}")
    stolen = [str(one["round"]) for one in result["rounds"] if one.get("steal_noisy")]
    if stolen:
        threshold = result["config"].get("quiet_steal_percent", QUIET_STEAL_PERCENT)
        found.append(f"rounds with CPU steal above {threshold:g} %: {', '.join(stolen)}")
    for name, lines in logs.items():
        if lines:
            found.append(f"{name} server log: {len(lines)} problem lines, first: {lines[0][:200]}")
    machine = result["machine"]
    if "uncommitted" in machine["authserver"]:
        found.append("authserver/ had uncommitted changes: these are the working tree's figures")
    if machine.get("authserver_at_end", machine["authserver"]) != machine["authserver"]:
        found.append(
            f"authserver/ changed during the run (at the end: {machine['authserver_at_end']}): "
            "a server started after the change (the scale curve's) ran other code"
        )
    return found
