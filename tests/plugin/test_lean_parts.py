"""The lean run path's parts against what Hydra does: hydra.yaml from a template, logging from a plan.

Each table row runs Hydra's own code and the lean part on the same input and
compares the outcome (the text written, the logging state left). The whole
path is compared with run_job in test_lean_conformance.py.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize
from hydra.core.singleton import Singleton
from hydra.core.utils import configure_log, setup_globals
from omegaconf import OmegaConf, open_dict

from hydra_plugins.hydraflow_launcher._lean_log import plan
from hydra_plugins.hydraflow_launcher._lean_yaml import HydraYaml, overrides_yaml, slot_values


def _hydra_config(tmp_path: Path, overrides=()):
    saved = Singleton.get_state()
    try:
        with initialize(version_base="1.3", config_path=None):
            cfg = compose(overrides=["+x=1", *overrides], return_hydra_config=True)
    finally:
        Singleton.set_state(saved)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path / "out")
        cfg.hydra.job.num, cfg.hydra.job.id = 0, "0"
        cfg.hydra.job.override_dirname = "x=1"
        cfg.hydra.overrides.task = ["+x=1"]
    return cfg


def _set(cfg, values):
    with open_dict(cfg):
        for key, value in values.items():
            OmegaConf.update(cfg, f"hydra.{key}", value, force_add=True)


PLAIN = {"job.num": 3, "job.id": "3", "runtime.output_dir": "/tmp/sweep/3", "overrides.task": ["x=1", "y=abc"],
         "job.override_dirname": "x=1,y=abc", "sweep.subdir": "${hydra.job.num}"}


@pytest.mark.parametrize("values, templated", [
    pytest.param(PLAIN, True, id="plain"),
    pytest.param({"runtime.output_dir": "/tmp/a b/" + "a long name " * 12, "overrides.task": [
        "msg='hello world'", "x=" + "y" * 100, "z=" + "w " * 60]}, True, id="spaces-and-long-lines"),
    pytest.param({"overrides.task": ["a=b: c", "k='v'", 'q="x"', "x=#y", "- a", "[1,2]", "x=a\nb"],
                  "runtime.output_dir": "/tmp/x: y"}, True, id="quotes-colons-newline"),
    pytest.param({"runtime.output_dir": "/tmp/résumé/ü", "overrides.task": ["name=日本"]}, True, id="unicode"),
    pytest.param({"job.id": "007", "job.override_dirname": "1.5", "sweep.subdir": "true",
                  "runtime.output_dir": "123"}, True, id="strings-that-read-as-other-types"),
    pytest.param({"overrides.task": [], "job.override_dirname": ""}, True, id="empty"),
    pytest.param({"sweep.subdir": "${hydra.job.override_dirname}", "overrides.task": ["x=${y}", "y=\\${z}"]},
                 True, id="interpolations"),
    pytest.param({"job.num": 10**12, "job.id": "x-1_2"}, True, id="large-number"),
    pytest.param({"job.override_dirname": "???"}, False, id="missing-value-dumped-in-full"),
])
def test_hydra_yaml_from_its_template_is_the_dump(tmp_path, values, templated):
    cfg = _hydra_config(tmp_path)
    writer = HydraYaml()
    _set(cfg, PLAIN)
    first = OmegaConf.masked_copy(cfg, "hydra")
    assert writer.text(first, slot_values(first.hydra)) == OmegaConf.to_yaml(first)  # builds the template
    assert writer.pieces is not None
    _set(cfg, values)
    run = OmegaConf.masked_copy(cfg, "hydra")
    assert (slot_values(run.hydra) is not None) == templated
    assert writer.text(run, slot_values(run.hydra)) == OmegaConf.to_yaml(run)
    task = cfg.hydra.overrides.task
    assert overrides_yaml(OmegaConf.to_container(task), task) == OmegaConf.to_yaml(task)


def _handler(h):
    fmt = h.formatter
    stream = getattr(h, "stream", None)
    return (type(h).__name__, h.name, h.level, [type(f).__name__ for f in h.filters],
            None if fmt is None else (type(fmt).__name__, fmt._fmt, fmt.datefmt, type(fmt._style).__name__),
            "stdout" if stream is sys.stdout else "stderr" if stream is sys.stderr else stream and "other",
            getattr(h, "baseFilename", None), getattr(h, "mode", None), getattr(h, "encoding", None),
            getattr(h, "delay", None))


def _logging_state():
    root = logging.getLogger()
    loggers = {name: (lg.level, lg.disabled, lg.propagate, [_handler(h) for h in lg.handlers])
               for name, lg in sorted(root.manager.loggerDict.items()) if isinstance(lg, logging.Logger)}
    return {"root": (root.level, [_handler(h) for h in root.handlers]), "loggers": loggers,
            "named handlers": sorted(logging._handlers), "live handlers": len(logging._handlerList)}


def _before():
    """A logging state a run may find: Hydra's own logging, a disabled logger, a child of a configured one."""
    logging.config.dictConfig({"version": 1, "root": {"level": "WARNING"}, "disable_existing_loggers": False})
    for name, disabled, level in (("lean.some.module", True, logging.ERROR), ("logging_example.child", False, 5),
                                  ("hydra", False, logging.DEBUG)):
        logger = logging.getLogger(name)
        logger.disabled, logger.level = disabled, level
        logger.handlers = [logging.NullHandler()]


@pytest.mark.parametrize("group, name, verbose", [
    pytest.param("job_logging", "default", False, id="job-default"),
    pytest.param("job_logging", "default", True, id="job-default-verbose"),
    pytest.param("job_logging", "default", "lean.some.module", id="job-default-verbose-one-logger"),
    pytest.param("job_logging", "stdout", ["a", "b"], id="job-stdout-verbose-list"),
    pytest.param("job_logging", "disabled", False, id="job-disabled"),
    pytest.param("job_logging", "none", True, id="job-none-verbose"),
    pytest.param("hydra_logging", "default", False, id="hydra-default"),
    pytest.param("hydra_logging", "disabled", False, id="hydra-disabled"),
    pytest.param("hydra_logging", "none", False, id="hydra-none"),
    pytest.param("hydra_logging", "hydra_debug", False, id="hydra-debug"),
])
def test_logging_from_a_plan_is_what_configure_log_leaves(tmp_path, monkeypatch, group, name, verbose):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    cfg = _hydra_config(tmp_path, [f"hydra/{group}={name}", f"hydra.verbose={verbose}".replace("'", "")])
    node = cfg.hydra[group]
    logging_plan, why = plan(node)
    assert why is None
    saved = logging.getLogger().handlers[:], logging.getLogger().level
    try:
        _before()
        configure_log(node, cfg.hydra.verbose)
        expected = _logging_state()
        _before()
        logging_plan.apply(node, cfg.hydra.verbose, cfg)
        assert _logging_state() == expected
    finally:
        logging.config.dictConfig({"version": 1, "root": {"level": "WARNING"}, "disable_existing_loggers": False})
        for handler in saved[0]:
            logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(saved[1])


@pytest.mark.parametrize("config, why", [
    pytest.param({"version": 1, "root": None}, None, id="root-null"),
    pytest.param({"version": 1, "formatters": {"f": {"format": "%(message)s"}},
                  "handlers": {"h": {"class": "logging.StreamHandler", "formatter": "f"}},
                  "root": {"level": "INFO", "handlers": ["h"]}}, None, id="a-stream-to-stderr"),
    pytest.param({"version": 1, "root": {"level": "INFO"}, "filters": {"f": {"name": "x"}}},
                 "it sets filters", id="filters"),
    pytest.param({"version": 1, "handlers": {"h": {"class": "logging.handlers.RotatingFileHandler",
                                                   "filename": "x.log"}}, "root": {"handlers": ["h"]}},
                 "handler h is not a plain stream or file handler", id="rotating-file"),
    pytest.param({"version": 1, "handlers": {"h": {"()": "my.factory"}}, "root": {"handlers": ["h"]}},
                 "handler h is not a plain stream or file handler", id="factory"),
    pytest.param({"version": 1, "handlers": {"h": {"class": "logging.StreamHandler", "stream": "ext://my.stream"}},
                  "root": {"handlers": ["h"]}}, "handler h writes to ext://my.stream", id="other-stream"),
    pytest.param({"version": 1, "formatters": {"f": {"format": "%(message)s", "class": "my.Formatter"}},
                  "root": {}}, "formatter f is more than a format", id="formatter-class"),
    pytest.param({"version": 1, "handlers": {"h": {"class": "logging.FileHandler", "filename": "cfg://x"}},
                  "root": {"handlers": ["h"]}}, "handlers.h.filename would be converted by dictConfig",
                 id="converted-value"),
    pytest.param({"version": 1, "handlers": {"h": {"class": "logging.StreamHandler", "formatter": "${x}"}},
                  "root": {"handlers": ["h"]}}, "handler h names an unknown formatter", id="interpolated-name"),
    pytest.param({"version": 1, "root": {"level": "INFO", "handlers": ["nope"]}},
                 "logger root names an unknown handler", id="unknown-handler"),
    pytest.param({"version": 1, "incremental": True, "root": {}}, "it sets incremental", id="incremental"),
    pytest.param({"root": {}}, "version or disable_existing_loggers is not a literal", id="no-version"),
    pytest.param({"version": 1}, "not a mapping with a root", id="no-root"),
])
def test_which_logging_configs_a_plan_reproduces(config, why):
    assert plan(OmegaConf.create(config))[1] == why


@pytest.mark.parametrize("overrides, fast", [
    pytest.param([], True, id="default"),
    pytest.param(["hydra.job.name=other"], True, id="job-name"),
    pytest.param(["hydra.job_logging.handlers.file.filename=${hydra.runtime.output_dir}/x-${hydra.job.num}.txt"],
                 True, id="other-interpolations"),
    pytest.param(["hydra.job_logging.handlers.file.filename=${x}.log"], False, id="the-apps-key"),
    pytest.param(["hydra.job_logging.handlers.file.filename=${now:%H}.log"], False, id="a-resolver"),
    pytest.param(["hydra/job_logging=stdout"], False, id="no-file-handler"),
])
def test_the_log_file_read_as_the_launcher_reads_it(tmp_path, overrides, fast):
    from hydra_plugins.hydraflow_launcher._lean import log_file
    from hydra_plugins.hydraflow_launcher._runs import _log_file

    setup_globals()  # ${now:}
    cfg = _hydra_config(tmp_path, overrides)
    for hydra_cfg in (OmegaConf.masked_copy(cfg, "hydra"), cfg):  # run_job's copy; the run's own config
        assert (log_file(hydra_cfg.hydra) is not None) == fast
        try:
            expected = _log_file(hydra_cfg.hydra)
        except Exception:  # noqa: BLE001 - then _log_file is asked, and raises it (${x} in run_job's copy)
            expected = None
        assert log_file(hydra_cfg.hydra) in (None, expected)
