"""Test, lint, docs and benchmark sessions for tune_bridge.

``nox`` with no arguments runs the default sessions: tests, minimal, lint, typecheck
and docs. The Ray version matrix runs with ``nox -t ray`` (every version) or
``nox -s ray-2.9.3`` (one version); the benchmarks with ``nox -s bench``.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "minimal", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

# The torch build that this project's machines serve from local disk. A newer torch
# downloads a CUDA build of several GB, so only the sessions that train a model
# install it, and they pin it before anything else can pull in another release.
TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")

# Ray releases in the matrix, each with the companion pins that it needs to import
# and run on Python 3.11. The matrix sessions install no torch.
RAY_MATRIX: dict[str, tuple[str, ...]] = {
    # Ray 2.9 imports pkg_resources._vendor: current setuptools lacks it, and below 70 has it.
    "2.9.3": ("ray[tune,train]==2.9.3", "pyarrow<15", "numpy<2", "pandas<2.2", "setuptools<70"),
    "2.35.0": ("ray[tune,train]==2.35.0",),
    "2.41.0": ("ray[tune,train]==2.41.0",),
    "2.60.0": ("ray[tune,train]==2.60.0",),
}

PYTEST_ENV = {
    # Ray must not try to send usage statistics: the test machines have no network.
    "RAY_USAGE_STATS_ENABLED": "0",
    # MLflow 3 fetches a telemetry configuration from the internet unless this is set.
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def _pytest(session: nox.Session, *args: str, no_skips: bool = False) -> None:
    env = dict(PYTEST_ENV)
    if no_skips:
        # Every extra is installed: a test skipped for a missing module is a failure.
        env["TUNE_BRIDGE_NO_SKIPS"] = "1"
    session.run("python", "-m", "pytest", *args, *session.posargs, env=env)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite with every extra installed (Ray, Ultralytics, torch)."""
    session.install(*TORCH_PINS)
    session.install("-e", ".[ray,ultralytics,optuna,mlflow,test]")
    _pytest(session, "tests", no_skips=True)


@nox.session
def minimal(session: nox.Session) -> None:
    """Run the tests with only pluggy and pytest: proves that every extra is optional."""
    session.install("-e", ".")
    session.install("pytest>=7.4")
    _pytest(session, "tests", "-m", "not ray and not ultralytics")
    session.run(
        "python",
        "-c",
        "import sys, tune_bridge; from tune_bridge import Bridge; Bridge().run_start(run_dir="
        "sys.argv[1]); heavy = [m for m in ('ray', 'torch', 'numpy', 'ultralytics') "
        "if m in sys.modules]; assert not heavy, heavy",
        str(session.create_tmp()),
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff: lint rules and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy --strict."""
    session.install("-e", ".")
    session.install("mypy>=1.10")
    session.run("mypy", "--strict", "src/tune_bridge")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with mkdocs --strict."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(session.create_tmp()) + "/site")


def _ray_session(version: str, pins: tuple[str, ...]) -> None:
    @nox.session(name=f"ray-{version}", tags=["ray"])
    def ray_matrix(session: nox.Session) -> None:
        session.install(*pins)
        session.install("-e", ".[test]")
        session.run("python", "-c", "import ray; print('ray', ray.__version__)")
        _pytest(
            session, "-m", "ray and not ultralytics", "tests/test_ray_backend.py", no_skips=True
        )

    ray_matrix.__doc__ = f"Run the real-Ray tests against Ray {version}."


for _version, _pins in RAY_MATRIX.items():
    _ray_session(_version, _pins)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks and rewrite docs/benchmarks.md; ``-- --quick`` for a short run."""
    session.install(*TORCH_PINS)
    session.install("-e", ".[ray,ultralytics,test]")
    session.install("pyinstrument>=4.6")
    session.run("python", "bench/run.py", *session.posargs, env=dict(PYTEST_ENV))


if os.environ.get("CI"):
    nox.options.error_on_external_run = True
