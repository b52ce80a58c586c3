"""The lean run path against Hydra's own run_job: the same runs, the same observable outcome.

Each app is swept twice into the same sweep directory, once with
``hydra.launcher.lean=false`` (every run through Hydra's run_job) and once
with ``lean=true``, and compared: every file the runs wrote (``.hydra/*``
byte for byte, logs modulo timestamps), the console, ``HydraConfig.get()``
as the task sees it, the task's root logging handlers, a callback's calls
and arguments, and each JobReturn as the launcher returned it. The setting
itself is the one difference allowed (``lean: true`` in hydra.yaml).
Runs on hydra-core 1.3 and on Hydra main (``.ci/versions.sh`` runs
tests/plugin there).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from hydra_plugins.hydraflow_launcher import _lean_hydra

HYDRA_14 = _lean_hydra.FAMILY == "1.4"  # hydra.job.chdir is a bool there (never unset)
FALLBACK = "hydraflow: runs go through Hydra's run_job, not the lean run path"

APP = '''
import json, logging, os, sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

log = logging.getLogger(__name__)
RECORDS = Path(os.environ["LEAN_RECORDS"])
RETURNS = []


def handlers():
    """The root logger's handlers, as the task sees them."""
    out = []
    for h in logging.getLogger().handlers:
        fmt = h.formatter
        out.append({"type": type(h).__name__, "name": h.name, "level": h.level,
                    "format": fmt._fmt if fmt else None, "datefmt": fmt.datefmt if fmt else None,
                    "stream": "stdout" if getattr(h, "stream", None) is sys.stdout else
                              "stderr" if getattr(h, "stream", None) is sys.stderr else None,
                    "file": getattr(h, "baseFilename", None), "mode": getattr(h, "mode", None)})
    return {"root": logging.getLogger().level, "handlers": out}


def describe(ret):
    """A JobReturn's fields, and how its configs are made."""
    value = ret._return_value
    return {
        "overrides": ret.overrides, "working_dir": ret.working_dir, "task_name": ret.task_name,
        "status": ret.status.name,
        "value": [type(value).__name__, str(value)] if isinstance(value, BaseException) else value,
        "cfg": OmegaConf.to_yaml(ret.cfg), "cfg_flags": [OmegaConf.is_readonly(ret.cfg), OmegaConf.is_struct(ret.cfg)],
        "hydra_cfg": OmegaConf.to_yaml(ret.hydra_cfg),
        "hydra_cfg_resolved": OmegaConf.to_container(ret.hydra_cfg, resolve=True),
        "hydra_cfg_own_root": ret.hydra_cfg.hydra._get_parent() is ret.hydra_cfg,
        "hydra_cfg_flags": [OmegaConf.is_readonly(ret.hydra_cfg.hydra), OmegaConf.is_struct(ret.hydra_cfg.hydra),
                            OmegaConf.get_type(ret.hydra_cfg, "hydra").__name__,
                            {k: [OmegaConf.is_readonly(ret.hydra_cfg.hydra[k]), OmegaConf.is_struct(ret.hydra_cfg.hydra[k])]
                             for k in ret.hydra_cfg.hydra if OmegaConf.is_config(ret.hydra_cfg.hydra[k])}],
    }


def write(name, record):
    with open(RECORDS / name, "a") as f:
        f.write(json.dumps(record, sort_keys=True, default=str) + "\\n")


VERSION_BASE = os.environ.get("LEAN_VERSION_BASE", "1.3")


@hydra.main(version_base=None if VERSION_BASE == "none" else VERSION_BASE, config_path="conf", config_name="config")
def main(cfg):
    hc = HydraConfig.get()
    write(f"task-{hc.job.num}.jsonl", {
        "hydra": OmegaConf.to_yaml(hc), "resolved": OmegaConf.to_container(hc, resolve=True),
        "flags": [OmegaConf.is_readonly(hc), hc._get_root() is not None and "hydra" in hc._get_root()],
        "cwd": os.getcwd(), "env": {k: v for k, v in os.environ.items() if k.startswith("HF_")},
        "logging": handlers(), "cfg": OmegaConf.to_yaml(cfg)})
    log.info("x=%s", cfg.x)
    log.debug("debug line")
    logging.getLogger("some.module").warning("a warning from some.module")
    print(f"printed by x={cfg.x}")
    if cfg.x == cfg.get("fail_at"):
        raise ValueError(f"x={cfg.x} fails")
    return {"x": cfg.x, "twice": 2 * cfg.x}


if __name__ == "__main__":
    from hydra_plugins.hydraflow_launcher import _lean_hydra, _runs

    if os.environ.get("LEAN_PRETEND_UNVERIFIED"):  # as on a Hydra version the lean path does not know
        _lean_hydra.UNVERIFIED = os.environ["LEAN_PRETEND_UNVERIFIED"]
    if os.environ.get("LEAN_PRETEND_NO_WARNING"):  # as on a Hydra without 1.3's chdir warning
        _lean_hydra.DEPRECATION_WARNING = None

    real = _runs.lean_run

    def spy(*args, **kwargs):  # records what the launcher got back; changes nothing
        ret = real(*args, **kwargs)
        RETURNS.append(ret)
        write(f"return-{ret.hydra_cfg.hydra.job.num}.jsonl", describe(ret))
        write("after-run.jsonl", {"logging": handlers()})
        return ret

    _runs.lean_run = spy
    try:
        main()
    finally:  # each JobReturn again once every run (of this process) ended: no later run changed it
        for ret in RETURNS:
            write(f"return-{ret.hydra_cfg.hydra.job.num}.jsonl", describe(ret))
'''

PROBE = '''
import json, os
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import OmegaConf


class Record(Callback):
    """Records each on_job_start / on_job_end call and its arguments."""

    def _write(self, record):
        with open(Path(os.environ["LEAN_RECORDS"]) / f"callback-{record['num']}.jsonl", "a") as f:
            f.write(json.dumps(record, sort_keys=True, default=str) + "\\n")

    def on_job_start(self, config, *, task_function, **kwargs):
        self._write({"event": "start", "num": config.hydra.job.num, "config": OmegaConf.to_yaml(config),
                     "task_function": task_function.__name__, "kwargs": sorted(kwargs),
                     "hydra": OmegaConf.to_yaml(HydraConfig.get()), "cwd": os.getcwd()})

    def on_job_end(self, config, job_return, **kwargs):
        ret = job_return
        value = ret._return_value
        self._write({"event": "end", "num": config.hydra.job.num, "config": OmegaConf.to_yaml(config),
                     "kwargs": sorted(kwargs), "overrides": ret.overrides, "cfg": OmegaConf.to_yaml(ret.cfg),
                     "hydra_cfg": OmegaConf.to_yaml(ret.hydra_cfg), "working_dir": ret.working_dir,
                     "task_name": ret.task_name, "status": ret.status.name,
                     "value": repr(value) if isinstance(value, BaseException) else value,
                     "own_root": ret.hydra_cfg.hydra._get_parent() is ret.hydra_cfg,
                     "hydra": OmegaConf.to_yaml(HydraConfig.get())})
'''

CALLBACK = """
  callbacks:
    record:
      _target_: lean_probe.Record
"""

BASE = """
defaults:
  - _self_
x: 1
fail_at: null
hydra:
  run:
    dir: outputs/fixed
"""

CUSTOM_LOGGING = """
version: 1
formatters:
  simple:
    format: '%(levelname)s %(name)s: %(message)s'
filters:
  only_main:
    name: __main__
handlers:
  console:
    class: logging.StreamHandler
    formatter: simple
    filters: [only_main]
    stream: ext://sys.stdout
  file:
    class: logging.handlers.RotatingFileHandler
    formatter: simple
    filename: ${hydra.runtime.output_dir}/custom.log
    maxBytes: 100000
root:
  level: INFO
  handlers: [console, file]
disable_existing_loggers: false
"""

GROUPS = {
    "model/small.yaml": "name: small\nwidth: 1\n",
    "model/large.yaml": "# @package _global_\nmodel:\n  name: large\n  width: 4\nhydra:\n  job:\n"
                        "    env_set:\n      HF_MODEL: large\n",
}


def _conf(extra: str = "", callback: bool = False, defaults: str = "") -> str:
    text = BASE.replace("  - _self_\n", defaults + "  - _self_\n") + extra
    return text + (CALLBACK if callback else "")


UNKNOWN = {"LEAN_PRETEND_UNVERIFIED": "Hydra 9.9 is not a version it was checked against"}

# (config.yaml, other files under conf/, overrides, environment, None where the lean path takes the runs,
# else the reason it gives, once, for leaving them to run_job)
CASES = [
    pytest.param(_conf(callback=True), {}, ["x=1,2,3"], {}, None, id="default-logging-callback"),
    pytest.param(_conf("  job:\n    chdir: true\n    env_set:\n      HF_A: one\n  sweep:\n"
                       "    subdir: ${hydra.job.override_dirname}\n", callback=True),
                 {}, ["x=1,2"], {}, None, id="chdir-env_set-subdir"),
    pytest.param(_conf(), {}, ["x=1,2,3", "fail_at=2"], {}, None, id="failing-task"),
    pytest.param(_conf(defaults="  - model: small\n"), GROUPS, ["x=1,2", "model=small,large"], {}, None,
                 id="config-groups-alternating"),
    pytest.param(_conf("  job:\n    env_set:\n      HF_N: run-${hydra.job.num}\n"), {}, ["x=1,2"], {},
                 "hydra.job.env_set interpolates", id="env_set-interpolating"),
    pytest.param(_conf(defaults="  - override hydra/job_logging: custom\n"),
                 {"hydra/job_logging/custom.yaml": CUSTOM_LOGGING}, ["x=1,2,3"], {},
                 "its hydra/job_logging is not one it reproduces", id="custom-job_logging"),
    pytest.param(_conf(defaults="  - override hydra/job_logging: custom\n"),
                 {"hydra/job_logging/custom.yaml": CUSTOM_LOGGING}, ["x=1,2,3", "hydra.launcher.max_parallel=2"], {},
                 "its hydra/job_logging is not one it reproduces", id="custom-job_logging-two-workers"),
    pytest.param(_conf(callback=True), {}, ["x=1,2"], UNKNOWN, UNKNOWN["LEAN_PRETEND_UNVERIFIED"],
                 id="unknown-hydra-version"),
    pytest.param(_conf(callback=True), {}, ["x=1,2"], {"LEAN_VERSION_BASE": "none"}, None,
                 id="version_base-none-chdir-unset"),
    pytest.param(_conf(), {}, ["x=1,2"], {"LEAN_VERSION_BASE": "none", "LEAN_PRETEND_NO_WARNING": "1"},
                 None if HYDRA_14 else "hydra.job.chdir is unset, and this Hydra's warning about it is not found",
                 id="version_base-none-without-the-warning"),
    pytest.param(_conf("  output_subdir: null\n  verbose: true\n",
                       defaults="  - override hydra/job_logging: stdout\n"),
                 {}, ["x=1,2"], {}, None, id="output_subdir-null-stdout-logging-verbose"),
    pytest.param(_conf(defaults="  - override hydra/job_logging: disabled\n"
                                "  - override hydra/hydra_logging: disabled\n"),
                 {}, ["x=1,2"], {}, None, id="logging-disabled"),
    pytest.param(_conf(callback=True), {}, ["x=1,2,3,4", "hydra.launcher.max_parallel=2"], {}, None,
                 id="two-workers"),
]

TIME = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\]")
SETTING = re.compile(r"\blean(: |=|\": )(true|false)\b")


def _same(text: str) -> str:
    """What may differ between the two sweeps: the time of a log line, and the setting itself."""
    return SETTING.sub(r"lean\1…", TIME.sub("[time]", text))


def _write_app(root: Path, config: str, files: Dict[str, str]) -> Path:
    app = root / "app"
    (app / "conf").mkdir(parents=True)
    (app / "app.py").write_text(APP)
    (app / "lean_probe.py").write_text(PROBE)
    (app / "conf" / "config.yaml").write_text(config)
    for name, text in files.items():
        (app / "conf" / name).parent.mkdir(parents=True, exist_ok=True)
        (app / "conf" / name).write_text(text)
    return app


def _sweep(app: Path, lean: bool, overrides: List[str], records: Path,
           extra_env: Dict[str, str]) -> subprocess.CompletedProcess:
    records.mkdir()
    env = {**os.environ, **extra_env, "LEAN_RECORDS": str(records)}
    return subprocess.run(
        [sys.executable, "app.py", "-m", "hydra/launcher=hydraflow", f"hydra.launcher.lean={str(lean).lower()}",
         *overrides, f"hydra.sweep.dir={app / 'sweep'}"],
        cwd=app, capture_output=True, text=True, timeout=300, env=env)


def _files(root: Path) -> Dict[str, str]:
    """Every file the runs wrote (not the manifest, which records the sweep and its timing), normalized."""
    out = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and relative.parts[0] != ".hydraflow":
            out[str(relative)] = _same(path.read_text())
    return out


def _records(directory: Path) -> Dict[str, List[str]]:
    return {p.name: sorted(_same(line) for line in p.read_text().splitlines()) for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("config, files, overrides, env, refused", CASES)
def test_lean_runs_are_what_run_job_makes_of_them(tmp_path, config, files, overrides, env, refused):
    app = _write_app(tmp_path, config, files)
    reference = _sweep(app, False, overrides, tmp_path / "records-run_job", env)
    (app / "sweep").rename(tmp_path / "sweep-run_job")
    lean = _sweep(app, True, overrides, tmp_path / "records-lean", env)

    assert lean.returncode == reference.returncode, lean.stderr
    said = [line for line in lean.stdout.splitlines() if FALLBACK in line]
    if refused is None:
        assert said == []
    else:  # said once, with its reason; then the same as run_job, since it is run_job
        assert len(said) == 1 and refused in said[0], lean.stdout
    stdout = "\n".join(line for line in lean.stdout.splitlines() if FALLBACK not in line)
    if "max_parallel=2" in " ".join(overrides):  # two workers write at once: the same text, in any order
        assert sorted(_same(stdout + "\n")) == sorted(_same(reference.stdout))
    else:
        assert _same(stdout) == _same(reference.stdout.rstrip("\n"))
    assert _same(lean.stderr) == _same(reference.stderr)

    written, expected = _files(app / "sweep"), _files(tmp_path / "sweep-run_job")
    assert list(written) == list(expected)
    for name in expected:
        assert written[name] == expected[name], name
    assert any(name.endswith("hydra.yaml") for name in expected) != ("output_subdir" in config)

    records, expected_records = _records(tmp_path / "records-lean"), _records(tmp_path / "records-run_job")
    assert list(records) == list(expected_records)
    for name in expected_records:
        assert records[name] == expected_records[name], name
    runs = len([n for n in expected_records if n.startswith("task-")])
    assert runs == len([n for n in expected_records if n.startswith("return-")]) >= 2
    assert (len([n for n in expected_records if n.startswith("callback-")]) == runs) == ("lean_probe" in config)


def test_the_run_job_source_line_a_failed_tasks_traceback_names(tmp_path):
    """The task is called from code compiled as run_job's own line (see _lean_hydra.task_caller)."""
    import inspect

    import hydra.core.utils

    assert _lean_hydra.CALL_TASK is not None
    code = _lean_hydra.CALL_TASK.__code__
    lines, first = inspect.getsourcelines(hydra.core.utils.run_job)
    assert code.co_filename == hydra.core.utils.__file__ and code.co_name == "run_job"
    called = [first + i for i, line in enumerate(lines) if "task_function(task_cfg)" in line]
    assert called and called[0] in {line for _, _, line in code.co_lines() if line}


@pytest.mark.parametrize("version, omegaconf_version, missing, expected", [
    pytest.param("1.3.2", "2.3.0", None, ("1.3", None), id="hydra-1.3"),
    pytest.param("1.4.0.dev9", "2.4.1rc2", None, ("1.4", None), id="hydra-main"),
    pytest.param("1.2.0", "2.3.0", None,
                 (None, "Hydra 1.2.0 is not a version it was checked against (1.3.x, 1.4.0.devN)"), id="hydra-1.2"),
    pytest.param("1.4.0", "2.4.0", None,
                 (None, "Hydra 1.4.0 is not a version it was checked against (1.3.x, 1.4.0.devN)"), id="hydra-1.4.0"),
    pytest.param("1.3.2", "2.5.0", None,
                 (None, "OmegaConf 2.5.0 is not a version it was checked against (2.3, 2.4)"), id="omegaconf-2.5"),
    pytest.param("1.3.2", "2.3.0", "_flush_loggers", (None, "hydra.core.utils has no _flush_loggers"),
                 id="a-name-gone"),
])
def test_the_versions_it_was_checked_against(monkeypatch, version, omegaconf_version, missing, expected):
    import hydra.core.utils
    import omegaconf

    monkeypatch.setattr(hydra, "__version__", version)
    monkeypatch.setattr(omegaconf, "__version__", omegaconf_version)
    if missing:
        monkeypatch.delattr(hydra.core.utils, missing)
    if expected[0] == "1.4" and not hasattr(hydra.core.utils, "_log_job_error_to_file"):
        monkeypatch.setattr(hydra.core.utils, "_log_job_error_to_file", lambda: None, raising=False)
    assert _lean_hydra.family() == expected
