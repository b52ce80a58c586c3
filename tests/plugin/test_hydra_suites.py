"""Hydra's own conformance suites for launchers and batched sweepers, run on hydraflow."""

from __future__ import annotations

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)

from hydra_plugins.hydraflow_launcher.launcher import HydraflowLauncher
from hydra_plugins.hydraflow_launcher.sweeper import HydraflowSweeper


def test_discovery():
    # Hydra's scan loads plugin modules afresh, so compare classes by name.
    assert HydraflowLauncher.__name__ in [c.__name__ for c in Plugins.instance().discover(Launcher)]
    assert HydraflowSweeper.__name__ in [c.__name__ for c in Plugins.instance().discover(Sweeper)]


IN_PROCESS = pytest.param("hydraflow", [], id="max_parallel=1")
WORKERS = pytest.param("hydraflow", ["hydra.launcher.max_parallel=2"], id="max_parallel=2")


@pytest.mark.parametrize("launcher_name, overrides", [IN_PROCESS, WORKERS])
class TestHydraflowLauncher(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    "launcher_name, overrides",
    [
        pytest.param("hydraflow", ["hydra/sweeper=hydraflow", "hydra.sweeper.max_batch_size=2"], id="max_parallel=1"),
        pytest.param("hydraflow", ["hydra/sweeper=hydraflow", "hydra.sweeper.max_batch_size=2",
                                   "hydra.launcher.max_parallel=2"], id="max_parallel=2"),
        pytest.param("basic", ["hydra/sweeper=hydraflow", "hydra.sweeper.max_batch_size=2"],
                     id="hydraflow-sweeper-basic-launcher"),
    ],
)
class TestHydraflowSweeper(BatchedSweeperTestSuite):
    pass


@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [
        pytest.param({}, ["-m", "hydra/launcher=hydraflow"], id="max_parallel=1"),
        pytest.param({}, ["-m", "hydra/launcher=hydraflow", "hydra.launcher.max_parallel=2"], id="max_parallel=2"),
    ],
)
class TestHydraflowLauncherIntegration(IntegrationTestSuite):
    pass
