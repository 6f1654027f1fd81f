"""The ``tune-bridge backends`` command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tune_bridge
from tune_bridge import cli
from tune_bridge.plugins import BackendConflictError, BackendPlugin


def _env():
    env = dict(os.environ)
    env.pop("TUNE_BRIDGE_BACKENDS", None)
    return env


class _Factory:
    """A stand-in backend class with the attributes that the table reads."""

    def __init__(self, requires=(), default_enabled=False):
        self.requires = requires
        self.default_enabled = default_enabled

    def __call__(self):
        return object()


def _plugin(name, distribution="example-dist", builtin=False, factory=None, error=None):
    if factory is None and error is None:
        factory = _Factory()
    return BackendPlugin(
        name, f"{name}_module:Backend", distribution, "1.2.3", builtin, factory, error
    )


# --- the real installation -----------------------------------------------------------


def test_backends_exit_code(capsys):
    assert cli.main(["backends"]) == 0


def test_backends_jsonl_row(capsys, parse_backends_table):
    cli.main(["backends"])

    row = parse_backends_table(capsys.readouterr().out)["jsonl"]

    assert row == {
        "name": "jsonl",
        "distribution": "tune_bridge",
        "version": tune_bridge.__version__,
        "kind": "built-in",
        "default": "yes",
        "dependency": "-",
        "status": "ok",
    }


def test_backends_ray_row(capsys, parse_backends_table):
    cli.main(["backends"])

    row = parse_backends_table(capsys.readouterr().out)["ray"]

    assert row["kind"] == "built-in"
    assert row["default"] == "yes"
    assert re.fullmatch(r"ray \((importable|missing)\)", row["dependency"])


def test_backends_subprocess(parse_backends_table):
    result = subprocess.run(
        [sys.executable, "-m", "tune_bridge.cli", "backends"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    rows = parse_backends_table(result.stdout)
    assert rows["jsonl"]["kind"] == "built-in"
    assert rows["jsonl"]["default"] == "yes"


def test_console_script(parse_backends_table):
    script = Path(sys.executable).parent / "tune-bridge"
    if not script.exists():
        pytest.skip(f"no console script at {script}: tune_bridge is not installed in this venv")

    result = subprocess.run(
        [str(script), "backends"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "jsonl" in parse_backends_table(result.stdout)


def test_no_command_exits_2(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main([])

    assert raised.value.code == 2


def test_help_mentions_backends(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["--help"])

    assert raised.value.code == 0
    assert "backends" in capsys.readouterr().out


# --- table cases with stand-in plugins -----------------------------------------------


def _run_with(monkeypatch, capsys, plugins):
    monkeypatch.setattr(cli, "discover_backends", lambda: plugins)
    exit_code = cli.main(["backends"])
    captured = capsys.readouterr()
    return exit_code, captured


def test_plugin_row(monkeypatch, capsys, parse_backends_table):
    exit_code, captured = _run_with(monkeypatch, capsys, {"mine": _plugin("mine")})

    row = parse_backends_table(captured.out)["mine"]
    assert exit_code == 0
    assert row["distribution"] == "example-dist"
    assert row["version"] == "1.2.3"
    assert row["kind"] == "plugin"
    assert row["default"] == "no"
    assert row["status"] == "ok"


def test_plugin_never_default(monkeypatch, capsys, parse_backends_table):
    plugin = _plugin("mine", factory=_Factory(default_enabled=True))

    _, captured = _run_with(monkeypatch, capsys, {"mine": plugin})

    assert parse_backends_table(captured.out)["mine"]["default"] == "no"


def test_failed_plugin_row(monkeypatch, capsys, parse_backends_table):
    plugin = _plugin("broken", error="RuntimeError: fails at import")

    exit_code, captured = _run_with(monkeypatch, capsys, {"broken": plugin})

    row = parse_backends_table(captured.out)["broken"]
    assert exit_code == 0
    assert row["status"] == "failed to load: RuntimeError: fails at import"
    assert row["dependency"] == "-"


@pytest.mark.parametrize(
    ("requires", "expected"),
    [
        (("json",), "json (importable)"),
        (("tune_bridge_no_such_module",), "tune_bridge_no_such_module (missing)"),
        (("json", "tune_bridge_no_such_module"), "json, tune_bridge_no_such_module (missing)"),
        ((), "-"),
    ],
    ids=["importable", "missing", "one-missing", "none"],
)
def test_dependency_column(monkeypatch, capsys, requires, expected, parse_backends_table):
    plugin = _plugin("mine", factory=_Factory(requires=requires))

    _, captured = _run_with(monkeypatch, capsys, {"mine": plugin})

    assert parse_backends_table(captured.out)["mine"]["dependency"] == expected


def test_rows_sorted_by_name(monkeypatch, capsys, parse_backends_table):
    plugins = {name: _plugin(name) for name in ("zeta", "alpha", "mid")}

    _, captured = _run_with(monkeypatch, capsys, plugins)

    assert list(parse_backends_table(captured.out)) == ["alpha", "mid", "zeta"]


def test_conflict_exits_1(monkeypatch, capsys):
    def conflict():
        raise BackendConflictError("two distributions register a backend named 'x'")

    monkeypatch.setattr(cli, "discover_backends", conflict)

    exit_code = cli.main(["backends"])

    captured = capsys.readouterr()
    assert exit_code == 1
    assert "'x'" in captured.err
    assert captured.out == ""
