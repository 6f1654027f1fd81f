"""Backend discovery through the ``tune_bridge`` entry-point group.

The first half installs real distributions with pip: the example plugin under
``examples/plugin`` and the broken plugin under ``tests/plugins/broken``. They go
into a temporary folder (``pip install --target``), never into the test
environment, and the checks run in subprocesses with that folder on PYTHONPATH,
where ``importlib.metadata`` finds their entry points. The second half checks
edge cases of ``tune_bridge.plugins`` with stand-in distributions.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tune_bridge
from tune_bridge import BackendConflictError, Bridge, UnknownBackendError, plugins
from tune_bridge.plugins import (
    BACKENDS_ENV_VAR,
    backend_names_from_env,
    create_backend,
    default_backend_names,
    discover_backends,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PLUGIN = ROOT / "examples" / "plugin"
BROKEN_PLUGIN = ROOT / "tests" / "plugins" / "broken"

EXAMPLE_DIST = ("tune-bridge-console", "0.1.0")
BROKEN_DIST = ("tune-bridge-broken", "0.0.1")
BROKEN_ERROR = "RuntimeError: tune_bridge_broken fails at import on purpose"


# --- installed plugins ---------------------------------------------------------------


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory):
    """Install the example and the broken plugin into a temporary folder and return it."""
    workdir = tmp_path_factory.mktemp("plugins")
    site = workdir / "site"
    # Build from copies: setuptools writes build/ and *.egg-info next to the sources.
    sources = [
        shutil.copytree(path, workdir / path.name) for path in (EXAMPLE_PLUGIN, BROKEN_PLUGIN)
    ]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--target",
        str(site),
    ]
    if importlib.util.find_spec("setuptools") is not None:
        # Build with the installed setuptools, so the install needs no package index.
        command += ["--no-build-isolation", "--no-index"]
    result = subprocess.run(
        [*command, *map(str, sources)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    return site


def _write_distribution(site, name, version, entry_points):
    """Write the metadata of an installed distribution, as pip would, into ``site``."""
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = ["[tune_bridge]", *(f"{key} = {value}" for key, value in entry_points.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return site


def _run(code, *sites, env=None, args=None):
    """Run Python code, or ``python -m`` args, with ``sites`` on PYTHONPATH."""
    environment = dict(os.environ)
    environment.pop(BACKENDS_ENV_VAR, None)
    environment.update(env or {})
    existing = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = os.pathsep.join(
        [*map(str, sites), *([existing] if existing else [])]
    )
    argv = [sys.executable, *args] if args else [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(
        argv, capture_output=True, text=True, env=environment, timeout=120, check=False
    )


def _last_json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.slow
def test_example_listed_as_plugin(plugin_site, parse_backends_table):
    result = _run(None, plugin_site, args=["-m", "tune_bridge.cli", "backends"])

    assert result.returncode == 0, result.stderr
    row = parse_backends_table(result.stdout)["console"]
    assert (row["distribution"], row["version"]) == EXAMPLE_DIST
    assert row["kind"] == "plugin"
    assert row["default"] == "no"
    assert row["status"] == "ok"


@pytest.mark.slow
def test_broken_listed_as_failed(plugin_site, parse_backends_table):
    result = _run(None, plugin_site, args=["-m", "tune_bridge.cli", "backends"])

    rows = parse_backends_table(result.stdout)
    assert rows["broken"]["status"] == f"failed to load: {BROKEN_ERROR}"
    assert rows["jsonl"]["status"] == "ok"


@pytest.mark.slow
def test_broken_skipped_with_warning(plugin_site):
    result = _run(
        """
        import json, logging
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
        from tune_bridge.plugins import discover_backends
        found = discover_backends()
        print(json.dumps({name: plugin.factory is not None for name, plugin in found.items()}))
        """,
        plugin_site,
    )

    loaded = _last_json(result)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert loaded == {
        "jsonl": True,
        "ray": True,
        "optuna": True,
        "mlflow": True,
        "console": True,
        "broken": False,
    }
    assert len(warnings) == 1
    assert "tune_bridge.plugins" in warnings[0]
    assert f"{BROKEN_DIST[0]} {BROKEN_DIST[1]}" in warnings[0]
    assert BROKEN_ERROR in warnings[0]


@pytest.mark.slow
def test_example_receives_events(plugin_site):
    result = _run(
        """
        from tune_bridge import Bridge
        with Bridge(backends=["console"]) as bridge:
            bridge.run_start(name="t1", config={"lr0": 0.01})
            bridge.epoch_end(1, {"loss": 0.5, "val": {"acc": 0.25}})
            bridge.checkpoint_saved(1, "last.pt")
            bridge.epoch_end(2, {"loss": 0.25})
        """,
        plugin_site,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[t1] run_start framework=plain",
        "[t1] epoch_end epoch=1 loss=0.5 val/acc=0.25",
        "[t1] checkpoint_saved epoch=1 path=last.pt",
        "[t1] epoch_end epoch=2 loss=0.25",
        "[t1] run_end status=completed",
    ]


@pytest.mark.slow
def test_example_stop_request(plugin_site):
    result = _run(
        """
        import io, json
        from tune_bridge import Bridge
        from tune_bridge_console import ConsoleBackend
        backend = ConsoleBackend(stream=io.StringIO(), stop_metric="acc", stop_value=0.5)
        bridge = Bridge(backends=[backend])
        bridge.run_start(name="t")
        answers = [bridge.epoch_end(epoch, {"acc": epoch / 4}) for epoch in (1, 2, 3)]
        bridge.run_end("stopped")
        print(json.dumps([answers, bridge.stop_requested_by]))
        """,
        plugin_site,
    )

    assert _last_json(result) == [[False, True, True], ["console"]]


@pytest.mark.slow
def test_example_not_enabled_by_default(plugin_site):
    result = _run(
        "import json; from tune_bridge import Bridge; print(json.dumps(list(Bridge().backends)))",
        plugin_site,
    )

    enabled = _last_json(result)
    assert "console" not in enabled
    assert "jsonl" in enabled


@pytest.mark.slow
def test_example_enabled_by_env_var(plugin_site):
    result = _run(
        "import json; from tune_bridge import Bridge; print(json.dumps(list(Bridge().backends)))",
        plugin_site,
        env={BACKENDS_ENV_VAR: "console,jsonl"},
    )

    assert _last_json(result) == ["console", "jsonl"]


@pytest.mark.slow
def test_enabling_broken_raises(plugin_site):
    result = _run(
        """
        import json
        from tune_bridge import Bridge
        try:
            Bridge(backends=["broken"])
        except RuntimeError as error:
            print(json.dumps(str(error)))
        """,
        plugin_site,
    )

    message = _last_json(result)
    assert f"{BROKEN_DIST[0]} {BROKEN_DIST[1]}" in message
    assert BROKEN_ERROR in message


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "other_distribution"),
    [("jsonl", f"tune_bridge {tune_bridge.__version__}"), ("console", " ".join(EXAMPLE_DIST))],
    ids=["builtin-name", "plugin-name"],
)
def test_conflicting_name_raises(plugin_site, tmp_path, name, other_distribution):
    conflict_site = _write_distribution(
        tmp_path / "site", "tune-bridge-rival", "2.0", {name: "tune_bridge_rival:Backend"}
    )

    result = _run(
        """
        import json
        from tune_bridge import Bridge, BackendConflictError
        try:
            Bridge(backends=["jsonl"])
        except BackendConflictError as error:
            print(json.dumps(str(error)))
        """,
        plugin_site,
        conflict_site,
    )

    message = _last_json(result)
    assert f"{name!r}" in message
    assert "tune-bridge-rival 2.0" in message
    assert other_distribution in message


@pytest.mark.slow
def test_conflict_cli_exits_1(plugin_site, tmp_path):
    conflict_site = _write_distribution(
        tmp_path / "site", "tune-bridge-rival", "2.0", {"console": "tune_bridge_rival:Backend"}
    )

    result = _run(None, plugin_site, conflict_site, args=["-m", "tune_bridge.cli", "backends"])

    assert result.returncode == 1
    assert "tune-bridge-rival 2.0" in result.stderr


# --- discovery edge cases with stand-in distributions -------------------------------------


class FakeDistribution:
    """The parts of ``importlib.metadata.Distribution`` that discovery reads."""

    def __init__(self, name, version, entry_points, group="tune_bridge"):
        self.metadata = {"Name": name}
        self.version = version
        self.entry_points = [
            importlib.metadata.EntryPoint(name=key, value=value, group=group)
            for key, value in entry_points.items()
        ]


@pytest.fixture
def installed(monkeypatch):
    """Replace the installed distributions; the discovery cache is restored afterwards."""
    distributions = []
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: list(distributions))
    monkeypatch.setattr(plugins, "_cache", None)
    return distributions


BUILTIN = FakeDistribution(
    "tune_bridge",
    "0.1.0",
    {
        "jsonl": "tune_bridge.backends.jsonl:JsonlBackend",
        "ray": "tune_bridge.backends.ray:RayBackend",
    },
)


def test_discover_plugin(installed):
    installed += [BUILTIN, FakeDistribution("my-dist", "3.1", {"mine": "collections:OrderedDict"})]

    plugin = discover_backends()["mine"]

    assert plugin.distribution == "my-dist"
    assert plugin.version == "3.1"
    assert plugin.builtin is False
    assert plugin.default_enabled is False
    assert plugin.error is None


def test_plugin_default_enabled_ignored(installed, tmp_path, monkeypatch):
    module = tmp_path / "eager_backend.py"
    module.write_text("class Backend:\n    default_enabled = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    installed += [BUILTIN, FakeDistribution("eager", "1.0", {"eager": "eager_backend:Backend"})]

    assert "eager" not in default_backend_names()


def test_default_names_are_builtins(installed):
    installed += [BUILTIN]

    assert sorted(default_backend_names()) == ["jsonl", "ray"]


def test_other_groups_ignored(installed):
    installed += [
        BUILTIN,
        FakeDistribution("other", "1.0", {"x": "json:dumps"}, group="console_scripts"),
    ]

    assert sorted(discover_backends()) == ["jsonl", "ray"]


@pytest.mark.parametrize(
    ("target", "error_type"),
    [
        ("tune_bridge_no_such_module:Backend", "ModuleNotFoundError"),
        ("tune_bridge.backends.jsonl:NoSuchBackend", "AttributeError"),
        ("tune_bridge.bridge:HOOK_NAMES", "tuple"),
    ],
    ids=["missing-module", "missing-attribute", "not-callable"],
)
def test_failed_load_skipped(installed, caplog, target, error_type):
    installed += [BUILTIN, FakeDistribution("bad-dist", "0.9", {"bad": target})]

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        found = discover_backends()

    assert found["bad"].factory is None
    assert error_type in found["bad"].error
    assert found["jsonl"].factory is not None
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "'bad'" in message
    assert "bad-dist 0.9" in message
    assert error_type in message


def test_failed_plugin_create_raises(installed):
    installed += [BUILTIN, FakeDistribution("bad-dist", "0.9", {"bad": "tune_bridge_nope:B"})]

    with pytest.raises(RuntimeError, match=r"bad-dist 0\.9"):
        create_backend("bad")


def test_conflict_names_both(installed):
    installed += [BUILTIN, FakeDistribution("rival", "2.0", {"jsonl": "json:JSONDecoder"})]

    with pytest.raises(BackendConflictError) as raised:
        discover_backends()

    message = str(raised.value)
    assert "'jsonl'" in message
    assert "tune_bridge 0.1.0" in message
    assert "rival 2.0" in message


def test_same_distribution_twice_no_conflict(installed):
    installed += [BUILTIN, BUILTIN]

    assert sorted(discover_backends()) == ["jsonl", "ray"]


def test_distribution_name_spelling_no_conflict(installed):
    plugin = {"mine": "collections:OrderedDict"}
    installed += [
        BUILTIN,
        FakeDistribution("My.Dist", "1.0", plugin),
        FakeDistribution("my-dist", "1.0", plugin),
    ]

    assert discover_backends()["mine"].factory is not None


def test_builtins_without_metadata(installed):
    installed += [FakeDistribution("other", "1.0", {})]

    found = discover_backends()

    assert sorted(found) == ["jsonl", "mlflow", "optuna", "ray"]
    assert found["jsonl"].distribution == "tune_bridge"
    assert found["jsonl"].version == tune_bridge.__version__
    assert found["jsonl"].builtin is True


def test_discovery_cached(installed):
    installed += [BUILTIN]
    discover_backends()
    installed += [FakeDistribution("late", "1.0", {"late": "collections:OrderedDict"})]

    cached = discover_backends()
    refreshed = discover_backends(refresh=True)

    assert "late" not in cached
    assert "late" in refreshed


def test_discovery_returns_copy(installed):
    installed += [BUILTIN]

    discover_backends().clear()

    assert sorted(discover_backends()) == ["jsonl", "ray"]


def test_unknown_backend_names_known(installed):
    installed += [BUILTIN, FakeDistribution("my-dist", "1.0", {"mine": "collections:OrderedDict"})]

    with pytest.raises(UnknownBackendError, match="jsonl, mine, ray"):
        Bridge(["nope"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", []),
        ("jsonl", ["jsonl"]),
        (" jsonl , ray ", ["jsonl", "ray"]),
        ("a,,b,", ["a", "b"]),
    ],
)
def test_names_from_env(monkeypatch, value, expected):
    if value is not None:
        monkeypatch.setenv(BACKENDS_ENV_VAR, value)

    assert backend_names_from_env() == expected
