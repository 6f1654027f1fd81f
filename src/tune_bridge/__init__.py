"""tune_bridge: carry training-loop events to metric-reporting backends.

Public names: :class:`Bridge`, :data:`hookimpl`, :class:`RunInfo`.
"""

from tune_bridge._markers import hookimpl, hookspec
from tune_bridge.bridge import Bridge
from tune_bridge.metrics import NonFiniteMetricError
from tune_bridge.plugins import BackendConflictError, UnknownBackendError
from tune_bridge.run import RunInfo

__version__ = "0.1.0"

__all__ = [
    "BackendConflictError",
    "Bridge",
    "NonFiniteMetricError",
    "RunInfo",
    "UnknownBackendError",
    "__version__",
    "hookimpl",
    "hookspec",
]
