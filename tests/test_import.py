"""``import tune_bridge`` and a plain run import none of the heavy optional packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

HEAVY_MODULES = ("ray", "torch", "ultralytics", "numpy", "pandas")

SNIPPETS = {
    "import": "import tune_bridge",
    "bridge-jsonl": "from tune_bridge import Bridge\nBridge(backends=['jsonl'])",
    "bridge-defaults": "from tune_bridge import Bridge\nBridge()",
    "jsonl-run": """
        from tune_bridge import Bridge
        with Bridge(backends=['jsonl']) as bridge:
            bridge.run_start(name='t', config={'lr0': 0.01}, run_dir='run')
            bridge.epoch_end(1, {'loss': 0.5, 'val': {'acc': 1}, 'note': None})
            bridge.checkpoint_saved(1, 'run/last.pt')
    """,
    "cli-backends": "from tune_bridge import cli\ncli.main(['backends'])",
}


@pytest.mark.parametrize("snippet", SNIPPETS.values(), ids=list(SNIPPETS))
def test_no_heavy_imports(snippet, tmp_path):
    code = textwrap.dedent(snippet) + textwrap.dedent(f"""
        import json, sys
        print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))
    """)
    env = dict(os.environ)
    env.pop("TUNE_BRIDGE_BACKENDS", None)

    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.splitlines()[-1])
    assert imported == []
