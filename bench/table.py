"""Print bench/results.json as the README's Markdown table (optionally next to an older run).

.venv/bin/python bench/table.py [bench/results.json] [--before bench/results-before.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _key(row: dict) -> tuple:
    return row["database"], row["name"]


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}"


def table(rows: list[dict], before: list[dict] | None) -> str:
    old = {_key(r): r for r in before or []}
    serial = {
        (r["database"], r["name"].removeprefix("latency: ")): r
        for r in rows
        if r.get("kind") == "serial"
    }
    out = []
    head = "| database | route | rps | p50 ms | p99 ms | ratio to /healthz | S=1 / S=0.01 latency |"
    if before:
        head += " ratio before | p50 before |"
    out.append(head)
    out.append("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        if r.get("kind") not in ("load", "contended"):
            continue
        lat = serial.get((r["database"], r["name"]))
        growth = _fmt(lat.get("growth"), 2) + "×" if lat and lat.get("growth") else "–"
        if r.get("failure"):
            line = f"| {r['database']} | {r['name']} | failed: {r['failure']} | | | | |"
        elif r.get("kind") == "contended":
            name = f"40-way contended sign-up (errors {r.get('errors')})"
            line = (
                f"| {r['database']} | {name} | – | {_fmt(r['p50_ms'])} | "
                f"{_fmt(r['p99_ms'])} | – | – |"
            )
        else:
            line = (
                f"| {r['database']} | {r['name']} | {_fmt(r['rps'])} | {_fmt(r['p50_ms'])} "
                f"| {_fmt(r['p99_ms'])} | {_fmt(r['ratio'], 3)} | {growth} |"
            )
        if before:
            o = old.get(_key(r), {})
            if o.get("rps") == 0:  # not one reply within the run
                line += f" 0 | > {o.get('run', {}).get('duration', 4)} s |"
            else:
                line += f" {_fmt(o.get('ratio'), 3)} | {_fmt(o.get('p50_ms'))} |"
        out.append(line)
    board = {}
    for r in rows:
        if r.get("kind") == "dashboard" and r.get("p50_ms") is not None:
            board.setdefault(r["database"], []).append(
                f"{r['name'].removeprefix('dashboard, ')} p50 {_fmt(r['p50_ms'])} ms "
                f"(p90 {_fmt(r.get('p90_ms'))})"
            )
    for database, parts in board.items():
        out.append(
            f"\nDashboard at S=1 on {database}, one request at a time in-process: "
            + "; ".join(parts)
            + "."
        )
    for r in rows:
        if r.get("kind") == "feed":
            out.append(
                f"\nCold build of a 1,000-event feed: {_fmt(r['p50_ms'])} ms "
                f"({r.get('events')} events)."
            )
    run = rows[0].get("run", {}) if rows else {}
    out.append(f"\nRun {run.get('date')} on {run.get('machine')}.")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="?", default="bench/results.json")
    parser.add_argument("--before")
    args = parser.parse_args()
    rows = json.loads(Path(args.results).read_text())
    before = json.loads(Path(args.before).read_text()) if args.before else None
    print(table(rows, before))


if __name__ == "__main__":
    main()
