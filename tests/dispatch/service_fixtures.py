"""Shared set-up for the service tests: a copy of the tiny county, a token file, a config."""

from __future__ import annotations

import shutil
from pathlib import Path

from ems.config import load_config

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TINY = FIXTURES / "geodata" / "tiny"

TOKENS = {
    "dispatcher": "dispatcher-token-0123456789",
    "planner": "planner-token-0123456789",
    "crew_centre1": "crew-centre-1-token-0123456789",
    "crew_liushahe": "crew-liushahe-1-token-0123456789",
    "center_renmin": "center-renmin-token-0123456789",
}

TOKEN_FILE = f"""
[[token]]
value = "{TOKENS['dispatcher']}"
role = "dispatcher"
name = "alice"

[[token]]
value = "{TOKENS['planner']}"
role = "planner"

[[token]]
value = "{TOKENS['crew_centre1']}"
role = "crew"
unit = "centre-1"

[[token]]
value = "{TOKENS['crew_liushahe']}"
role = "crew"
unit = "liushahe-1"

[[token]]
value = "{TOKENS['center_renmin']}"
role = "center"
hospital = "renmin"
"""


def make_config(tmp: Path, db: str = "") -> dict:
    """Copy the tiny county into ``tmp`` and return a config that serves it with SQLite in ``tmp``."""
    county = Path(shutil.copytree(TINY, tmp / "county", ignore=shutil.ignore_patterns(".ems-cache")))
    (tmp / "tokens.toml").write_text(TOKEN_FILE, encoding="utf-8")
    config = load_config(environ={})
    config["county"] = {"name": str(county)}
    config["service"].update({"data_dir": str(tmp / "data"), "token_file": str(tmp / "tokens.toml"),
                              "db": db, "layout": "1+5+N"})
    return config


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}
