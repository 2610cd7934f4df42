"""``ems centers …``: the chest pain / stroke center commands.

``ems centers report --center ID --from DATE --to DATE --format html|json|csv [--input FILE | --db URL |
--data-dir D] [--out FILE]``

Milestones come from the dispatch service's store (the SQLite database in the service's data directory by
default, or ``--db postgresql://…``), or with ``--input`` from a JSON-lines file of milestone events (one
``Milestone.to_dict()`` object a line, in log order).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from centers.errors import MilestoneError, ReportError

FORMATS = ("html", "json", "csv")


def register(subparsers: Any) -> None:
    """Add the ``centers`` command and its subcommands."""
    centers = subparsers.add_parser("centers", help="chest pain and stroke centers: quality reports",
                                    description="Chest pain and stroke centers (胸痛中心, 卒中中心).")
    sub = centers.add_subparsers(dest="centers_command", metavar="SUBCOMMAND")
    centers.set_defaults(func=lambda args: _help(centers))

    report = sub.add_parser(
        "report", help="quality report of a center over a period",
        description="Door-to-balloon, FMC-to-device, DIDO, door-to-needle … against their published targets, "
        "with the share of patients meeting each (the China Chest Pain Center 75 % rule), monthly trends, ED "
        "bypass, pre-hospital ECG and missing-milestone rates.",
    )
    report.add_argument("--center", required=True, metavar="ID", help="hospital id, or 'all' for every hospital")
    report.add_argument("--from", dest="date_from", required=True, metavar="DATE", help="first day, YYYY-MM-DD (local)")
    report.add_argument("--to", dest="date_to", required=True, metavar="DATE", help="last day, YYYY-MM-DD (local)")
    report.add_argument("--format", choices=FORMATS, default="html", help="output format (default: html)")
    report.add_argument("--input", metavar="FILE", help="JSON-lines file of milestone events (instead of the store)")
    report.add_argument("--db", metavar="URL", help="the service's store: postgresql://… or sqlite:///path "
                                                    "(default: SQLite in the data directory)")
    report.add_argument("--data-dir", metavar="D", help="the service's data directory (default: from config.toml)")
    report.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    report.set_defaults(func=run_report)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def load_milestones(source: str | Path | None) -> list[Any]:
    """Load milestone events, in log order, from ``source``.

    Today ``source`` is the path of a JSON-lines file; the service's store will be accepted here too.

    Raises
    ------
    ReportError
        No source, the file is unreadable, or a line is not a milestone (the line number is given).
    """
    from centers.milestones import Milestone

    if source is None:
        raise ReportError("--input: no milestone store is connected yet; expected a JSON-lines file of milestones")
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ReportError(f"--input {path}: cannot be read ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise ReportError(f"--input {path}: not UTF-8 text") from e
    events = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(Milestone.from_dict(json.loads(line)))
        except json.JSONDecodeError as e:
            raise ReportError(f"--input {path} line {n}: not JSON ({e.msg})") from e
        except MilestoneError as e:
            raise ReportError(f"--input {path} line {n}: {e}") from e
    return events


def load_store_milestones(args: argparse.Namespace) -> list[Any]:
    """Read every milestone event from the dispatch service's store, in log order."""
    import asyncio

    from centers.milestones import Milestone
    from dispatch.bootstrap import data_dir_of
    from dispatch.patients import MILESTONE
    from dispatch.store import SQLITE_FILENAME, open_store
    from ems.config import load_config

    config = load_config(args.config)
    data_dir = Path(args.data_dir) if args.data_dir else data_dir_of(config)
    url = args.db or config.get("service", {}).get("db") or None
    if url is None and not (data_dir / SQLITE_FILENAME).exists():
        raise ReportError(f"--data-dir {data_dir}: no service database there ({SQLITE_FILENAME}); give --db, "
                          "--data-dir or --input")

    async def read() -> list[Any]:
        async with open_store(url, data_dir) as store:
            return [Milestone.from_dict(item.event["milestone"]) async for item in store.iter_events()
                    if item.event.get("type") == MILESTONE]

    return asyncio.run(read())


def run_report(args: argparse.Namespace) -> int:
    """Run ``ems centers report``."""
    from centers.milestones import fold_patients
    from centers.report import build_report, parse_date, render

    start, end = parse_date(args.date_from, "--from"), parse_date(args.date_to, "--to")
    milestones = load_milestones(args.input) if args.input else load_store_milestones(args)
    folded = fold_patients(milestones)
    center = None if args.center == "all" else args.center
    report = build_report(folded.records.values(), center_id=center, start=start, end=end, rejected=folded.rejected)
    text = render(report, args.format)
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as e:
            raise ReportError(f"--out {args.out}: cannot be written ({e.strerror or e})") from e
        print(f"ems centers report: {report['patients']} patients, {len(folded.rejected)} refused events -> {args.out}",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
