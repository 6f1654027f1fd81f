"""Metric hygiene: copies, verbatim keys, flattening, conversion, drops and non-finite values."""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from fractions import Fraction

import pytest

from tune_bridge import Bridge, NonFiniteMetricError, hookimpl
from tune_bridge.metrics import MetricCleaner

# --- conversion tables -------------------------------------------------------------
# Each case builds its value from the module so that a missing torch or numpy skips
# only its own cases. The expected values are exact in float32.

TORCH_CONVERTED = [
    ("0-d float32", lambda torch: torch.tensor(0.5), 0.5, float),
    ("0-d float64", lambda torch: torch.tensor(0.25, dtype=torch.float64), 0.25, float),
    ("0-d int64", lambda torch: torch.tensor(7), 7, int),
    ("0-d bool", lambda torch: torch.tensor(True), 1, int),
    ("1-element", lambda torch: torch.tensor([0.75]), 0.75, float),
    ("1x1 int", lambda torch: torch.tensor([[3]]), 3, int),
    ("requires_grad", lambda torch: torch.tensor(0.5, requires_grad=True), 0.5, float),
    ("grad_fn", lambda torch: torch.tensor(0.25, requires_grad=True) * 2, 0.5, float),
]

NUMPY_CONVERTED = [
    ("float32", lambda np: np.float32(0.5), 0.5, float),
    ("float64", lambda np: np.float64(0.25), 0.25, float),
    ("float16", lambda np: np.float16(0.5), 0.5, float),
    ("int64", lambda np: np.int64(7), 7, int),
    ("int32", lambda np: np.int32(-3), -3, int),
    ("bool_", lambda np: np.bool_(True), 1, int),
    ("0-d array", lambda np: np.array(0.5), 0.5, float),
    ("1-element array", lambda np: np.array([0.75]), 0.75, float),
    ("1-element int array", lambda np: np.array([4]), 4, int),
]

PYTHON_CONVERTED = [
    ("int", 3, 3, int),
    ("float", 0.5, 0.5, float),
    ("True", True, 1, int),
    ("False", False, 0, int),
    ("Decimal", Decimal("0.5"), 0.5, float),
    ("Fraction", Fraction(1, 4), 0.25, float),
]

TORCH_DROPPED = [
    ("3-element", lambda torch: torch.tensor([1.0, 2.0, 3.0]), "3 elements"),
    ("empty", lambda torch: torch.tensor([]), "0 elements"),
]

NUMPY_DROPPED = [
    ("3-element array", lambda np: np.array([1.0, 2.0, 3.0]), "3 elements"),
    ("empty array", lambda np: np.array([]), "0 elements"),
    ("str_", lambda np: np.str_("best"), "str_"),
    ("1-element str array", lambda np: np.array(["best"]), "str"),
]

PYTHON_DROPPED = [
    ("None", None, "NoneType"),
    ("str", "best.pt", "str"),
    ("bytes", b"x", "bytes"),
    ("list", [1.0, 2.0], "list"),
    ("1-element list", [1.0], "list"),
    ("tuple", (1.0,), "tuple"),
    ("complex", 1 + 2j, "complex"),
    ("object", object(), "object"),
]

NONFINITE = [
    ("float nan", lambda: float("nan"), math.nan),
    ("float inf", lambda: float("inf"), math.inf),
    ("float -inf", lambda: float("-inf"), -math.inf),
    ("numpy nan", lambda: pytest.importorskip("numpy").float64("nan"), math.nan),
    ("numpy float32 inf", lambda: pytest.importorskip("numpy").float32("inf"), math.inf),
    ("numpy -inf array", lambda: pytest.importorskip("numpy").array([-math.inf]), -math.inf),
    ("torch nan", lambda: pytest.importorskip("torch").tensor(float("nan")), math.nan),
    ("torch inf", lambda: pytest.importorskip("torch").tensor(float("inf")), math.inf),
    ("torch -inf", lambda: pytest.importorskip("torch").tensor(float("-inf")), -math.inf),
]

VERBATIM_KEYS = [
    "metrics/mAP50-95(B)",
    "metrics/precision(B)",
    "lr/pg0",
    "a.b-c",
    "train/box_loss",
    "val loss",
    "Ünïcode-λ",
    "x" * 200,
]


def _ids(table):
    return [case[0].replace(" ", "-") for case in table]


def _dropped_records(caplog, key):
    return [
        record
        for record in caplog.records
        if record.name.startswith("tune_bridge") and repr(key) in record.getMessage()
    ]


@pytest.fixture
def cleaner():
    return MetricCleaner()


# --- conversion --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "build", "expected", "expected_type"), TORCH_CONVERTED, ids=_ids(TORCH_CONVERTED)
)
def test_clean_converts_torch(cleaner, case, build, expected, expected_type):
    torch = pytest.importorskip("torch")

    cleaned = cleaner.clean({"m": build(torch)})

    assert cleaned == {"m": expected}
    assert type(cleaned["m"]) is expected_type


@pytest.mark.parametrize(
    ("case", "build", "expected", "expected_type"), NUMPY_CONVERTED, ids=_ids(NUMPY_CONVERTED)
)
def test_clean_converts_numpy(cleaner, case, build, expected, expected_type):
    np = pytest.importorskip("numpy")

    cleaned = cleaner.clean({"m": build(np)})

    assert cleaned == {"m": expected}
    assert type(cleaned["m"]) is expected_type


@pytest.mark.parametrize(
    ("case", "value", "expected", "expected_type"), PYTHON_CONVERTED, ids=_ids(PYTHON_CONVERTED)
)
def test_clean_converts_python(cleaner, case, value, expected, expected_type):
    cleaned = cleaner.clean({"m": value})

    assert cleaned == {"m": expected}
    assert type(cleaned["m"]) is expected_type


def test_clean_none_gives_empty(cleaner):
    assert cleaner.clean(None) == {}


def test_clean_rejects_non_mapping(cleaner):
    with pytest.raises(TypeError, match="mapping"):
        cleaner.clean([("loss", 1.0)])


# --- dropped values ------------------------------------------------------------------


def _check_dropped(cleaner, caplog, value, type_text):
    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        cleaned = cleaner.clean({"bad": value, "good": 1.0})

    assert cleaned == {"good": 1.0}
    records = _dropped_records(caplog, "bad")
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert type_text in records[0].getMessage()


@pytest.mark.parametrize(("case", "build", "type_text"), TORCH_DROPPED, ids=_ids(TORCH_DROPPED))
def test_clean_drops_torch(cleaner, caplog, case, build, type_text):
    torch = pytest.importorskip("torch")
    _check_dropped(cleaner, caplog, build(torch), type_text)


@pytest.mark.parametrize(("case", "build", "type_text"), NUMPY_DROPPED, ids=_ids(NUMPY_DROPPED))
def test_clean_drops_numpy(cleaner, caplog, case, build, type_text):
    np = pytest.importorskip("numpy")
    _check_dropped(cleaner, caplog, build(np), type_text)


@pytest.mark.parametrize(("case", "value", "type_text"), PYTHON_DROPPED, ids=_ids(PYTHON_DROPPED))
def test_clean_drops_python(cleaner, caplog, case, value, type_text):
    _check_dropped(cleaner, caplog, value, type_text)


def test_drop_warns_once_per_key(cleaner, caplog):
    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        for _ in range(3):
            cleaner.clean({"note": None, "path": "best.pt", "loss": 0.5})

    assert len(_dropped_records(caplog, "note")) == 1
    assert len(_dropped_records(caplog, "path")) == 1
    assert len(caplog.records) == 2


def test_drop_warns_again_after_reset(cleaner, caplog):
    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        cleaner.clean({"note": None})
        cleaner.reset()
        cleaner.clean({"note": None})

    assert len(_dropped_records(caplog, "note")) == 2


def test_drop_warns_once_per_run_through_bridge(recorder, caplog):
    bridge = Bridge([recorder])

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        bridge.run_start(name="first")
        for epoch in (1, 2, 3):
            bridge.epoch_end(epoch, {"note": "text", "loss": 0.5})
        bridge.run_end()
        first_run_records = len(_dropped_records(caplog, "note"))
        bridge.run_start(name="second")
        bridge.epoch_end(1, {"note": "text"})
        bridge.run_end()

    assert first_run_records == 1
    assert len(_dropped_records(caplog, "note")) == 2


# --- keys and flattening ---------------------------------------------------------------


@pytest.mark.parametrize("key", VERBATIM_KEYS)
def test_clean_keeps_key_verbatim(cleaner, key):
    cleaned = cleaner.clean({key: 0.5})

    assert list(cleaned) == [key]


@pytest.mark.parametrize("key", VERBATIM_KEYS)
def test_backend_gets_key_verbatim(recorder, key):
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.epoch_end(1, {key: 0.5})

    received = recorder.arguments("epoch_end")[0]["metrics"]
    assert list(received) == [key]
    assert key.encode() == next(iter(received)).encode()
    bridge.run_end()


def test_clean_flattens_nested_with_slash(cleaner):
    metrics = {"val": {"acc": 0.5, "loss": {"box": 1.0, "cls": 2.0}}, "lr": 0.01}

    cleaned = cleaner.clean(metrics)

    assert cleaned == {"val/acc": 0.5, "val/loss/box": 1.0, "val/loss/cls": 2.0, "lr": 0.01}


def test_clean_flattens_keys_verbatim(cleaner):
    cleaned = cleaner.clean({"metrics": {"mAP50-95(B)": 0.5}})

    assert list(cleaned) == ["metrics/mAP50-95(B)"]


def test_clean_converts_inside_nested(cleaner):
    torch = pytest.importorskip("torch")

    cleaned = cleaner.clean({"val": {"loss": torch.tensor(0.5), "note": None}})

    assert cleaned == {"val/loss": 0.5}


def test_clean_stringifies_non_str_key(cleaner):
    cleaned = cleaner.clean({"class": {0: 0.5, 1: 0.25}})

    assert cleaned == {"class/0": 0.5, "class/1": 0.25}


@pytest.mark.parametrize(
    "metrics",
    [
        {"a/b": 1.0, "a": {"b": 2.0}},
        {"a": {"b": 1.0}, "a/b": 2.0},
    ],
    ids=["flat-first", "nested-first"],
)
def test_clean_duplicate_key_keeps_first(cleaner, caplog, metrics):
    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        cleaned = cleaner.clean(metrics)

    assert cleaned == {"a/b": 1.0}
    assert len(_dropped_records(caplog, "a/b")) == 1


# --- the caller's dict ---------------------------------------------------------------


def _snapshot(metrics):
    """Record keys and value identities, nested dicts included."""
    return {
        key: (id(value), _snapshot(value) if isinstance(value, dict) else None)
        for key, value in metrics.items()
    }


def _caller_metrics():
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    return {
        "loss": torch.tensor(0.5),
        "map": np.float64(0.25),
        "flag": True,
        "note": None,
        "nan": float("nan"),
        "val": {"acc": np.float32(0.5), "bad": "x", "deep": {"box": torch.tensor([1.0])}},
    }


def test_clean_does_not_mutate_caller(cleaner):
    metrics = _caller_metrics()
    before = _snapshot(metrics)

    cleaned = cleaner.clean(metrics)

    assert _snapshot(metrics) == before
    assert cleaned is not metrics


def test_clean_result_shares_no_nested_dict(cleaner):
    metrics = _caller_metrics()

    cleaned = cleaner.clean(metrics)
    cleaned["added"] = 1

    assert "added" not in metrics
    assert all(not isinstance(value, dict) for value in cleaned.values())


def test_bridge_does_not_mutate_caller(make_recorder):
    class Mutator:
        name = "mutator"

        @hookimpl
        def tune_bridge_epoch_end(self, metrics):
            metrics["added_by_backend"] = 1.0
            metrics.clear()

    metrics = _caller_metrics()
    before = _snapshot(metrics)
    bridge = Bridge([Mutator(), make_recorder()])
    bridge.run_start()

    bridge.epoch_end(1, metrics)
    bridge.run_end(metrics=metrics)

    assert _snapshot(metrics) == before


# --- non-finite values ---------------------------------------------------------------


@pytest.mark.parametrize(("case", "build", "expected"), NONFINITE, ids=_ids(NONFINITE))
def test_nonfinite_drop_removes_key(caplog, case, build, expected):
    cleaner = MetricCleaner("drop")

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        cleaned = cleaner.clean({"bad": build(), "good": 1.0})
        cleaner.clean({"bad": build()})

    assert cleaned == {"good": 1.0}
    assert len(_dropped_records(caplog, "bad")) == 1


@pytest.mark.parametrize(("case", "build", "expected"), NONFINITE, ids=_ids(NONFINITE))
def test_nonfinite_keep_passes_value(case, build, expected):
    cleaned = MetricCleaner("keep").clean({"bad": build()})

    value = cleaned["bad"]
    assert type(value) is float
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == expected


@pytest.mark.parametrize(("case", "build", "expected"), NONFINITE, ids=_ids(NONFINITE))
def test_nonfinite_raise_names_key(case, build, expected):
    with pytest.raises(NonFiniteMetricError, match="'bad'"):
        MetricCleaner("raise").clean({"bad": build()})


def test_nonfinite_error_is_value_error():
    assert issubclass(NonFiniteMetricError, ValueError)


def test_nonfinite_default_is_drop():
    assert MetricCleaner().clean({"bad": float("nan")}) == {}


@pytest.mark.parametrize("policy", ["ignore", "DROP", None, ""])
def test_cleaner_rejects_invalid_policy(policy):
    with pytest.raises(ValueError, match="nonfinite"):
        MetricCleaner(policy)


def test_bridge_rejects_invalid_policy():
    with pytest.raises(ValueError, match="nonfinite"):
        Bridge([], nonfinite="ignore")


def test_bridge_nonfinite_raise_propagates(recorder):
    bridge = Bridge([recorder], nonfinite="raise")
    bridge.run_start()

    with pytest.raises(NonFiniteMetricError):
        bridge.epoch_end(1, {"loss": float("inf")})

    assert recorder.arguments("epoch_end") == []
    bridge.run_end()


def test_bridge_nonfinite_keep_reaches_backend(recorder):
    bridge = Bridge([recorder], nonfinite="keep")
    bridge.run_start()

    bridge.epoch_end(1, {"loss": float("nan")})

    assert math.isnan(recorder.arguments("epoch_end")[0]["metrics"]["loss"])
    bridge.run_end()
