"""Checkpoint inspection: what a LoRA file is and how it was trained, read from its header.

`inspect_checkpoint(path)` returns a `CheckpointInfo`; `evalkit inspect` prints it.
"""

from evalkit.inspect.api import inspect_checkpoint
from evalkit.inspect.record import SCHEMA_VERSION, CheckpointInfo

__all__ = ["SCHEMA_VERSION", "CheckpointInfo", "inspect_checkpoint"]
