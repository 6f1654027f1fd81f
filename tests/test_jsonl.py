"""The local JSONL backend: one flushed JSON line per event."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from tune_bridge import Bridge, RunInfo
from tune_bridge.backends.jsonl import DEFAULT_FILE_NAME, JsonlBackend


def _read_lines(path):
    """Parse every line as strict JSON: NaN and Infinity literals are rejected."""

    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    text = Path(path).read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line, parse_constant=reject) for line in text.splitlines()]


def _full_run(bridge, run_dir):
    bridge.run_start(name="trial-1", config={"lr0": 0.01}, run_dir=run_dir)
    bridge.epoch_end(1, {"loss": 1.0, "metrics/mAP50-95(B)": 0.25})
    bridge.checkpoint_saved(2, run_dir / "last.pt")
    bridge.epoch_end(2, {"loss": 0.5, "metrics/mAP50-95(B)": 0.5}, checkpoint=run_dir / "last.pt")
    bridge.run_end("completed")


def test_one_line_per_event(tmp_path):
    _full_run(Bridge(["jsonl"]), tmp_path)

    events = [line["event"] for line in _read_lines(tmp_path / DEFAULT_FILE_NAME)]

    assert events == ["run_start", "epoch_end", "checkpoint_saved", "epoch_end", "run_end"]


def test_lines_readable_before_run_end(tmp_path):
    bridge = Bridge(["jsonl"])
    bridge.run_start(run_dir=tmp_path)
    bridge.epoch_end(1, {"loss": 1.0})

    lines = _read_lines(tmp_path / DEFAULT_FILE_NAME)

    assert [line["event"] for line in lines] == ["run_start", "epoch_end"]
    assert lines[1]["metrics"] == {"loss": 1.0}
    bridge.run_end()


def test_each_line_flushed(tmp_path):
    bridge = Bridge(["jsonl"])
    bridge.run_start(run_dir=tmp_path)
    path = tmp_path / DEFAULT_FILE_NAME

    counts = []
    for epoch in (1, 2, 3):
        bridge.epoch_end(epoch, {"loss": 1.0})
        counts.append(len(path.read_text().splitlines()))

    assert counts == [2, 3, 4]
    bridge.run_end()


def test_pandas_reads_file(tmp_path):
    pandas = pytest.importorskip("pandas")
    _full_run(Bridge(["jsonl"]), tmp_path)

    frame = pandas.read_json(tmp_path / DEFAULT_FILE_NAME, lines=True)

    assert len(frame) == 5
    assert {"event", "run", "epoch", "time", "metrics"} <= set(frame.columns)
    assert list(frame["event"]) == [
        "run_start",
        "epoch_end",
        "checkpoint_saved",
        "epoch_end",
        "run_end",
    ]
    assert frame["metrics"].iloc[3] == {"loss": 0.5, "metrics/mAP50-95(B)": 0.5}


def test_common_fields(tmp_path):
    started = time.time()
    _full_run(Bridge(["jsonl"]), tmp_path)
    finished = time.time()

    lines = _read_lines(tmp_path / DEFAULT_FILE_NAME)

    for line in lines:
        assert line["run"] == "trial-1"
        assert started <= line["time"] <= finished
        assert isinstance(line["metrics"], dict)
    assert [line["epoch"] for line in lines] == [None, 1, 2, 2, 2]


def test_run_start_fields(tmp_path):
    _full_run(Bridge(["jsonl"]), tmp_path)

    line = _read_lines(tmp_path / DEFAULT_FILE_NAME)[0]

    assert line["config"] == {"lr0": 0.01}
    assert line["framework"] == "plain"
    assert line["run_dir"] == str(tmp_path)
    assert line["metrics"] == {}


def test_epoch_end_fields(tmp_path):
    _full_run(Bridge(["jsonl"]), tmp_path)

    line = _read_lines(tmp_path / DEFAULT_FILE_NAME)[3]

    assert line["metrics"] == {"loss": 0.5, "metrics/mAP50-95(B)": 0.5}
    assert line["checkpoint"] == str(tmp_path / "last.pt")


def test_checkpoint_saved_fields(tmp_path):
    _full_run(Bridge(["jsonl"]), tmp_path)

    line = _read_lines(tmp_path / DEFAULT_FILE_NAME)[2]

    assert line["path"] == str(tmp_path / "last.pt")
    assert line["epoch"] == 2


def test_run_end_fields(tmp_path):
    _full_run(Bridge(["jsonl"]), tmp_path)

    line = _read_lines(tmp_path / DEFAULT_FILE_NAME)[-1]

    assert line["status"] == "completed"
    assert line["metrics"] == {"loss": 0.5, "metrics/mAP50-95(B)": 0.5}


def test_path_option(tmp_path):
    path = tmp_path / "logs" / "events.jsonl"
    run_dir = tmp_path / "run"
    bridge = Bridge([JsonlBackend(path=str(path))])

    _full_run(bridge, run_dir)

    assert len(_read_lines(path)) == 5
    assert not (run_dir / DEFAULT_FILE_NAME).exists()


def test_run_dir_created(tmp_path):
    run_dir = tmp_path / "a" / "b"
    bridge = Bridge(["jsonl"])

    _full_run(bridge, run_dir)

    assert (run_dir / DEFAULT_FILE_NAME).is_file()


def test_no_run_dir_writes_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bridge = Bridge(["jsonl"])

    bridge.run_start(name="t")
    bridge.run_end()

    assert len(_read_lines(tmp_path / DEFAULT_FILE_NAME)) == 2


def test_runs_append(tmp_path):
    path = tmp_path / "events.jsonl"
    bridge = Bridge([JsonlBackend(path=path)])

    for name in ("a", "b"):
        bridge.run_start(name=name)
        bridge.epoch_end(1, {"loss": 1.0})
        bridge.run_end()

    assert [line["run"] for line in _read_lines(path)] == ["a"] * 3 + ["b"] * 3


def test_current_path(tmp_path):
    backend = JsonlBackend()
    bridge = Bridge([backend])

    bridge.run_start(run_dir=tmp_path)
    during = backend.current_path
    bridge.run_end()

    assert during == tmp_path / DEFAULT_FILE_NAME
    assert backend.current_path is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")],
    ids=["nan", "inf", "-inf"],
)
def test_nonfinite_keep_written_as_string(tmp_path, value, expected):
    bridge = Bridge(["jsonl"], nonfinite="keep")
    bridge.run_start(run_dir=tmp_path)
    bridge.epoch_end(1, {"loss": value, "acc": 0.5})
    bridge.run_end()

    lines = _read_lines(tmp_path / DEFAULT_FILE_NAME)

    assert lines[1]["metrics"] == {"loss": expected, "acc": 0.5}
    assert lines[2]["metrics"] == {"loss": expected, "acc": 0.5}


def test_config_values_written(tmp_path):
    config = {
        "data": tmp_path / "data.yaml",
        "nested": {"weights": Path("yolo.pt"), "scale": math.inf},
        "sizes": (320, 640),
        "bad": math.nan,
    }
    bridge = Bridge(["jsonl"])
    bridge.run_start(config=config, run_dir=tmp_path)
    bridge.run_end()

    written = _read_lines(tmp_path / DEFAULT_FILE_NAME)[0]["config"]

    assert written == {
        "data": str(tmp_path / "data.yaml"),
        "nested": {"weights": "yolo.pt", "scale": "Infinity"},
        "sizes": [320, 640],
        "bad": "NaN",
    }


def test_int_metric_stays_int(tmp_path):
    bridge = Bridge(["jsonl"])
    bridge.run_start(run_dir=tmp_path)
    bridge.epoch_end(1, {"instances": 12, "flag": True})
    bridge.run_end()

    metrics = _read_lines(tmp_path / DEFAULT_FILE_NAME)[1]["metrics"]

    assert metrics == {"instances": 12, "flag": 1}
    assert type(metrics["instances"]) is int


def test_failed_status_written(tmp_path):
    with pytest.raises(KeyError), Bridge(["jsonl"]) as bridge:
        bridge.run_start(run_dir=tmp_path)
        bridge.epoch_end(1, {"loss": 1.0})
        raise KeyError("boom")

    last = _read_lines(tmp_path / DEFAULT_FILE_NAME)[-1]
    assert last["event"] == "run_end"
    assert last["status"] == "failed"
    assert last["epoch"] == 1


def test_write_without_run_start_raises():
    backend = JsonlBackend()

    with pytest.raises(RuntimeError, match="not open"):
        backend.tune_bridge_epoch_end(run=RunInfo("t"), epoch=1, metrics={}, checkpoint=None)
