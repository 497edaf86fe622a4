"""procore: the vendor plugin. `from_env` reaches Procore from the environment's settings.

The sandbox (the same connector over the simulator) lives in `reconciler.sandbox.procore`: this
module does not know its test doubles.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.connectors.procore_api import ProcoreAPI
from reconciler.connectors.procore_connector import ProcoreConnector
from reconciler.connectors.procore_settings import settings_from_env


class ProcorePlugin:
    name = "procore"

    def from_env(self, env: Mapping[str, str], *, writable: bool) -> ProcoreConnector:
        return ProcoreConnector(ProcoreAPI(settings_from_env(env), writable=writable))


PLUGIN = ProcorePlugin()
