"""With ``HYDRAFLOW_DEFAULT_LAUNCHER=hydraflow`` (``hydraflow run`` sets it for its batches): the
hydraflow launcher where nothing else chooses one (``hydraflow_core/default_launcher.py``).

Hydra's ``hydra/env/default`` is an empty config whose place in Hydra's
defaults list is meant for environment-specific overrides. This plugin puts a
directory first on the search path whose ``hydra/env/default.yaml`` holds
``override /hydra/launcher: hydraflow``. Hydra keeps the first choice it
meets for a group (the command line's, then the primary config's), so this
one applies only where the launcher would be Hydra's default: an app's own
choice, even ``basic``, is kept. Hydra imports this module at start-up: light.
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from hydraflow_core.default_launcher import active

#: The directory whose hydra/env/default.yaml chooses the launcher.
CONF = "pkg://hydra_plugins.hydraflow_launcher.conf"


class HydraflowDefaultLauncher(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        if active():
            search_path.prepend("hydraflow", CONF)  # before Hydra's own (empty) hydra/env/default
