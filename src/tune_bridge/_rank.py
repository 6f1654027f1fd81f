"""The rank of this process in distributed training, for backends that report on rank 0."""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger("tune_bridge")


def process_rank() -> int:
    """Return the global rank of this process: 0 outside distributed training.

    Reads ``torch.distributed`` only when the program has already imported and
    initialized it, then the ``RANK`` and ``LOCAL_RANK`` environment variables that
    ``torchrun`` sets. A value that is not an integer is ignored.
    """
    distributed = sys.modules.get("torch.distributed")
    if distributed is not None:
        try:
            if distributed.is_available() and distributed.is_initialized():
                return int(distributed.get_rank())
        except Exception:  # a torch build without distributed support, or a broken one
            logger.debug("torch.distributed did not return a rank", exc_info=True)
    for variable in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(variable)
        if value is None:
            continue
        try:
            return int(value)
        except ValueError:
            logger.debug("Ignored %s=%r: not an integer", variable, value)
    return 0
