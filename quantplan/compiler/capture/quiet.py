"""Keep torch's own warnings out of stderr while quantplan captures a graph.

On a value-dependent branch, torch.export (torch 2.13) logs a symbolic-shapes warning with a
dump of the partial FX graph and also prints that graph to sys.stderr before it raises.
quantplan turns the exception into its own error, so those lines only repeat it. Inside the
block the loggers' levels are raised and sys.stderr is buffered. The buffer is dropped when
the block raises and written to the real stderr when it succeeds, so warnings of a successful
capture still show. The previous levels and stream are restored afterwards.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator

__all__ = ["TORCH_CAPTURE_LOGGERS", "quiet_torch_logs"]

TORCH_CAPTURE_LOGGERS = (
    "torch.fx.experimental.symbolic_shapes",
    "torch._dynamo",
    "torch._export",
    "torch.export",
)


@contextlib.contextmanager
def quiet_torch_logs(level: int = logging.ERROR) -> Iterator[None]:
    """Raise torch's capture loggers to `level` inside the block, then restore their levels."""
    loggers = [logging.getLogger(name) for name in TORCH_CAPTURE_LOGGERS]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(level, logger.getEffectiveLevel()))
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer):
            yield
        sys.stderr.write(buffer.getvalue())
    finally:
        for logger, old_level in zip(loggers, previous, strict=True):
            logger.setLevel(old_level)
