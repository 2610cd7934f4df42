"""`ems serve` options reach the configuration (the server itself is run by test_recovery.py)."""

from __future__ import annotations

from pathlib import Path

from dispatch.cli import serve_config
from ems.cli import build_parser


def test_serve_flags_override_the_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "site.toml"
    config_file.write_text('[service]\nport = 9000\nhost = "0.0.0.0"\n[county]\nname = "ningxiang"\n', encoding="utf-8")
    args = build_parser().parse_args(["serve", "--config", str(config_file), "--port", "9120",
                                      "--db", "postgresql://db/ems", "--allow-outside", "--layout", "my.toml"])
    config = serve_config(args)
    assert config["service"]["port"] == 9120 and config["service"]["host"] == "0.0.0.0"
    assert config["service"]["db"] == "postgresql://db/ems" and config["service"]["allow_outside"] is True
    assert config["service"]["layout"] == "my.toml"


def test_config_given_before_the_subcommand_is_kept(tmp_path: Path) -> None:
    config_file = tmp_path / "site.toml"
    config_file.write_text("[service]\nport = 9001\n", encoding="utf-8")
    args = build_parser().parse_args(["--config", str(config_file), "serve"])
    assert serve_config(args)["service"]["port"] == 9001


def test_the_dispatcher_token_is_printed_only_when_the_file_is_generated(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from dispatch.cli import startup_lines
    from dispatch.runtime import TokenFile

    class FakeTokens:
        def first(self, role):
            return "secret-dispatcher-token-0123"

    path = tmp_path / "tokens.toml"
    first = startup_lines(SimpleNamespace(token_file=TokenFile(path, generated=True), tokens=FakeTokens()),
                          "127.0.0.1", 8120)
    later = startup_lines(SimpleNamespace(token_file=TokenFile(path, generated=False), tokens=FakeTokens()),
                          "127.0.0.1", 8120)
    assert any("secret-dispatcher-token-0123" in line for line in first)
    assert not any("secret-dispatcher-token-0123" in line for line in later)
    assert any(str(path) in line for line in later)
