"""concur: placeholder plugin backed by the snapshot sandbox until the real connector lands."""

from __future__ import annotations

from reconciler.connectors.memory import MemoryPlugin
from reconciler.sandbox_seed import concur

PLUGIN = MemoryPlugin("concur", concur)
