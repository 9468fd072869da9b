"""Figures of one bench/compare.py run: authserver beside node-oidc-provider, as PNG files.

    .venv/bin/python bench/plot.py var/bench/compare.json docs/benchmarks/

writes into the directory (created if missing):
  throughput.png  req/s per endpoint, ours beside the peer (median over rounds, min-max bars)
  p99.png         p99 latency per endpoint, the same way
  ratio.png       ours/peer req/s per endpoint: the median of the per-round ratios, min-max
  scale.png       authserver's client_credentials tokens/s by worker count (the scale curve)
An endpoint the peer was not measured on shows "n/a" in its place.
"""

import json
import sys
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: no global state, no display backend

COLOURS = {"ours": "#2b6cb0", "peer": "#c05621"}
LABELS = {"ours": "authserver", "peer": "node-oidc-provider"}
SERVERS = ("ours", "peer")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: plot.py COMPARE_JSON OUT_DIR", file=sys.stderr)
        return 2
    result = json.loads(Path(argv[1]).read_text())
    out = Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    written = [
        per_endpoint(result, "requests_per_second", "req/s", out / "throughput.png"),
        per_endpoint(result, "p99_ms", "p99 latency, ms", out / "p99.png"),
        ratios(result, out / "ratio.png"),
    ]
    if result.get("scale", {}).get("runs"):
        written.append(scale_curve(result, out / "scale.png"))
    for path in written:
        print(path)
    return 0


def subtitle(result: dict[str, Any]) -> str:
    machine, config = result["machine"], result["config"]
    return (
        f"{machine['date']}, {machine['nproc']} cores; {len(result['rounds'])} rounds of "
        f"{config['seconds']} s; median over rounds, bars: min-max"
    )


def per_endpoint(result: dict[str, Any], figure: str, unit: str, path: Path) -> Path:
    """One panel per endpoint (their scales differ by 10x and more), two bars each."""
    endpoints = result["endpoints"]
    fig = Figure(figsize=(3.0 * len(endpoints), 4.2))
    axes = fig.subplots(1, len(endpoints))
    for ax, endpoint in zip(axes, endpoints, strict=True):
        entry = result["summary"]["endpoints"][endpoint["key"]]
        for index, server in enumerate(SERVERS):
            bar(ax, index, entry[server][figure], COLOURS[server])
        ax.set_xticks(range(len(SERVERS)), [LABELS[s] for s in SERVERS], fontsize=7)
        ax.set_xlim(-0.6, len(SERVERS) - 0.4)
        ax.set_title(f"{endpoint['title']}\n({endpoint['load']})", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel(unit)
    fig.suptitle(f"{unit}: authserver and node-oidc-provider\n{subtitle(result)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def bar(ax: Axes, x: int, value: dict[str, float] | None, colour: str) -> None:
    """A median with its min-max range, or "n/a" where nothing was measured."""
    if value is None:
        # x in data, y in axes coordinates: near the floor whatever the scale.
        ax.text(x, 0.04, "n/a", transform=ax.get_xaxis_transform(), ha="center", color="grey")
        return
    error = [[value["median"] - value["min"]], [value["max"] - value["median"]]]
    ax.bar(x, value["median"], color=colour, width=0.6, yerr=error, capsize=4)
    # The figure inside the bar, at its foot: clear of the min-max bar above it.
    ax.text(
        x,
        0.02,
        f"{value['median']:.0f}" if value["median"] >= 100 else f"{value['median']:.2f}",
        transform=ax.get_xaxis_transform(),
        ha="center",
        fontsize=7,
        color="white",
    )


def ratios(result: dict[str, Any], path: Path) -> Path:
    """ours/peer req/s, the median of the per-round ratios; 1.0 is parity."""
    endpoints = result["endpoints"]
    fig = Figure(figsize=(8, 0.6 * len(endpoints) + 1.6))
    ax = fig.subplots()
    for y, endpoint in enumerate(endpoints):
        ratio = result["summary"]["endpoints"][endpoint["key"]]["ratio_requests_per_second"]
        if ratio is None:
            ax.text(
                0.02,
                y,
                "n/a (peer not measured)",
                transform=ax.get_yaxis_transform(),
                va="center",
                fontsize=8,
                color="grey",
            )
            continue
        error = [[ratio["median"] - ratio["min"]], [ratio["max"] - ratio["median"]]]
        ax.barh(y, ratio["median"], color=COLOURS["ours"], xerr=error, capsize=4, height=0.5)
        ax.text(ratio["max"], y, f"  {ratio['median']:.2f}", va="center", fontsize=8)
    ax.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    highest = [
        result["summary"]["endpoints"][e["key"]]["ratio_requests_per_second"] for e in endpoints
    ]
    ax.set_xlim(0, 1.2 * max([1.0, *(r["max"] for r in highest if r)]))
    labels = [f"{e['title']} ({e['load']})" for e in endpoints]
    ax.set_yticks(range(len(endpoints)), labels, fontsize=8)
    ax.set_ylim(len(endpoints) - 0.5, -0.5)  # top to bottom, the n/a rows included
    ax.set_xlabel("authserver req/s / node-oidc-provider req/s (same round)")
    ax.set_title(f"ours/peer throughput\n{subtitle(result)}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def scale_curve(result: dict[str, Any], path: Path) -> Path:
    """Tokens/s by worker count, beside linear scaling from one worker and openssl's sign/s."""
    summary = result["scale"]["summary"]
    workers = [int(count) for count in summary]
    medians = [summary[str(count)]["median"] for count in workers]
    errors = [
        [summary[str(c)]["median"] - summary[str(c)]["min"] for c in workers],
        [summary[str(c)]["max"] - summary[str(c)]["median"] for c in workers],
    ]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.errorbar(
        workers,
        medians,
        yerr=errors,
        marker="o",
        capsize=4,
        color=COLOURS["ours"],
        label="authserver tokens/s",
    )
    cores = result["machine"]["nproc"]
    if 1 in workers:
        # More workers than cores cannot add throughput: the line stops rising at `cores`.
        linear = [medians[workers.index(1)] * min(count, cores) for count in workers]
        ax.plot(workers, linear, linestyle=":", color="grey", label="linear from 1 worker")
    sign = result["summary"]["openssl_sign_per_second"]
    if sign:
        ax.axhline(
            sign["median"],
            color="black",
            linestyle="--",
            linewidth=0.8,
            label=f"openssl sign/s, {result['machine']['nproc']} processes",
        )
    ax.set_xticks(workers)
    ax.set_xlabel("authserver serve --workers")
    ax.set_ylabel("client_credentials tokens/s")
    ax.set_ylim(0, 1.12 * max([*medians, sign["median"] if sign else 0]))
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(
        f"scale curve ({result['scale']['load']}, {result['scale']['passes']} passes), "
        f"{cores} cores",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    sys.exit(main(sys.argv))
