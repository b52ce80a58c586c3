"""The plugin is found by Hydra under a regular (wheel) install, as under the editable
install the tests run in; and installing it hides no other Hydra plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]

DISCOVER = """
import hydra_plugins.hydraflow_launcher as plugin
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
print(plugin.__file__)
print(sorted(c.__name__ for c in Plugins.instance().discover(Launcher)))
print(sorted(c.__name__ for c in Plugins.instance().discover(Sweeper)))
"""

APP = """
import hydra
@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    print("ran x =", cfg.x)
main()
"""


def test_no_init_in_the_namespace_package():
    assert not (ROOT / "hydra_plugins" / "__init__.py").exists()
    assert (ROOT / "hydra_plugins" / "hydraflow_launcher" / "__init__.py").exists()


def test_editable_install_is_discovered(tmp_path):
    result = subprocess.run([sys.executable, "-c", DISCOVER], cwd=tmp_path, capture_output=True, text=True)
    where, launchers, sweepers = result.stdout.splitlines()
    assert where.startswith(str(ROOT))
    assert "HydraflowLauncher" in launchers and "BasicLauncher" in launchers
    assert "HydraflowSweeper" in sweepers and "BasicSweeper" in sweepers


def test_wheel_install_is_discovered(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                    str(ROOT)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("hydraflow_launcher-*.whl")
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # hydra-core and the rest come from this environment's site-packages (a path line in a
    # .pth file: its own .pth files, the editable install's among them, are not processed).
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True)
    result = subprocess.run([str(python), "-c", DISCOVER], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    where, launchers, sweepers = result.stdout.splitlines()
    assert where.startswith(site)
    assert "HydraflowLauncher" in launchers and "HydraflowSweeper" in sweepers
    (tmp_path / "app.py").write_text(APP)
    run = subprocess.run([str(python), "app.py", "-m", "hydra/launcher=hydraflow", "+x=1:2"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "ran x = 1" in run.stdout and "ran x = 2" in run.stdout
    # The wheel ships the search path directory behind HYDRAFLOW_DEFAULT_LAUNCHER (conf/hydra/env/default.yaml).
    run = subprocess.run([str(python), "app.py", "-m", "+x=1,2"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "HYDRAFLOW_DEFAULT_LAUNCHER": "hydraflow"})
    assert run.returncode == 0, run.stderr
    assert "hydraflow: 2 runs completed" in run.stdout + run.stderr
