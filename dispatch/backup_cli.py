"""``ems backup DIR`` and ``ems restore DIR``: the store (and the generated token file), online and back.

The store is the one ``ems serve`` would use: ``--db`` or ``service.db``, else SQLite in ``--data-dir``
or ``service.data_dir`` (see `dispatch.backup` for what a backup holds and how a restore checks it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``backup`` and ``restore`` commands."""
    b = subparsers.add_parser(
        "backup", help="back up the dispatch store into DIR while the service runs",
        description="Copy the store as of one commit (SQLite: the online backup API, safe while ems serve "
                    "writes; PostgreSQL: pg_dump of the store's schema) and the generated token file into a "
                    "new or empty directory (0700, files 0600), with a manifest of checksums.")
    b.add_argument("dir", metavar="DIR", help="the backup directory (new or empty)")
    _store_args(b)
    b.set_defaults(func=run_backup)

    r = subparsers.add_parser(
        "restore", help="restore a backup made by ems backup (stop the service first)",
        description="Check the backup's checksums, put the store (and the token file) in place, then open "
                    "the store and check its log against the manifest. A store that holds events is "
                    "replaced only with --force, and kept beside, renamed.")
    r.add_argument("dir", metavar="DIR", help="a directory written by ems backup")
    _store_args(r)
    r.add_argument("--force", action="store_true", help="replace a store (or token file) that is there")
    r.set_defaults(func=run_restore)


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="the store: postgresql://… or sqlite:///path "
                                               "(default: service.db, else SQLite in the data directory)")
    p.add_argument("--data-dir", metavar="D", help="the service's data directory (default: service.data_dir)")


def _target(args: argparse.Namespace) -> tuple[str | None, Path, dict[str, Any]]:
    """Return the store URL, the data directory and the configuration's service section."""
    from dispatch.bootstrap import data_dir_of
    from ems.config import load_config

    config = load_config(args.config)
    service = config.get("service", {})
    data_dir = Path(args.data_dir) if args.data_dir else data_dir_of(config)
    return args.db or service.get("db") or None, data_dir, service


def run_backup(args: argparse.Namespace) -> int:
    """Run ``ems backup``."""
    import asyncio

    from dispatch.backup import backup

    url, data_dir, service = _target(args)
    manifest = asyncio.run(backup(Path(args.dir), url, data_dir, token_file=service.get("token_file") or None))
    size_mb = sum(f["bytes"] for f in manifest["files"].values()) / 1e6
    print(f"ems backup: {manifest['store']['url']} at seq {manifest['last_seq']} ({manifest['event_count']} events)"
          f" -> {args.dir} ({len(manifest['files'])} files, {size_mb:.1f} MB)")
    if any(f.get("secret") for f in manifest["files"].values()):
        print(f"ems backup: the backup holds the token file (secret): {args.dir} is 0700, its files 0600")
    for item in manifest["not_included"]:
        print(f"ems backup: not included: {item}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    """Run ``ems restore``."""
    import asyncio

    from dispatch.backup import restore

    url, data_dir, _ = _target(args)
    done = asyncio.run(restore(Path(args.dir), url, data_dir, force=args.force))
    print(f"ems restore: {args.dir} -> {done.store}: log at seq {done.last_seq} ({done.event_count} events),"
          " as the manifest says")
    if done.tokens is not None:
        print(f"ems restore: token file -> {done.tokens}")
    for item in done.moved_aside:
        print(f"ems restore: what was there is kept as {item}")
    return 0
