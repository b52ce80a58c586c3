"""The launcher's settings, declared once: checks, did-you-mean, the Hydra node and the executor's Options."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from hydraflow_core.settings import CHECKS, LauncherSettings, config_class, unknown_overridden


@pytest.mark.parametrize("values, problems", [
    pytest.param({}, [], id="defaults"),
    pytest.param({"backend": "slurm", "max_parallel": 4, "gpus": "0,1", "timeout_min": 0.5}, [], id="valid"),
    pytest.param({"max_paralel": 2}, ["max_paralel: unknown field (did you mean 'max_parallel'?); valid fields: "
                                      "backend, max_parallel, gpus, runs_per_task, parallel_per_task, start, wait, "
                                      "resume, dry_run, max_retries, timeout_min, lean, slurm"], id="typo-did-you-mean"),
    pytest.param({"colour": 1}, ["colour: unknown field; valid fields: backend, max_parallel, gpus, runs_per_task, "
                                 "parallel_per_task, start, wait, resume, dry_run, max_retries, timeout_min, lean, slurm"],
                 id="unknown-no-close-name"),
    pytest.param({"backend": "pbs"}, ["backend must be one of: local, slurm, not 'pbs'"], id="backend"),
    pytest.param({"max_parallel": 0}, ["max_parallel must be a whole number of at least 1, not 0"], id="max_parallel"),
    pytest.param({"runs_per_task": True}, ["runs_per_task must be a whole number of at least 1, not True"],
                 id="runs_per_task-bool"),
    pytest.param({"max_retries": -1}, ["max_retries must be a whole number of at least 0, not -1"], id="max_retries"),
    pytest.param({"start": "spawn"}, ["start must be one of: fork, exec, not 'spawn'"], id="start"),
    pytest.param({"wait": "no"}, ["wait must be true or false, not 'no'"], id="wait"),
    pytest.param({"lean": "off"}, ["lean must be true or false, not 'off'"], id="lean"),
    pytest.param({"timeout_min": 0}, ["timeout_min must be a positive number of minutes (e.g. 30 or 0.5), or null "
                                      "for no limit, not 0"], id="timeout_min"),
    pytest.param({"gpus": ["0", "x"]}, ["gpus must hold GPU ids: whole numbers (0, 1, ...) or GPU UUIDs (GPU-..., "
                                        "MIG-...), not 'x'"], id="gpus"),
    pytest.param({"gpus": {"a": 1}}, ["gpus must be a list of GPU ids, e.g. [0,1], not {'a': 1}"], id="gpus-mapping"),
    pytest.param({"slurm": {"cpus_per_task": 0}}, ["slurm.cpus_per_task must be a whole number of at least 1, not 0"],
                 id="slurm-field"),
    pytest.param({"backend": "pbs", "wait": 1}, ["backend must be one of: local, slurm, not 'pbs'",
                                                 "wait must be true or false, not 1"], id="every-problem-at-once"),
])
def test_settings_are_checked_field_by_field(values, problems):
    settings, unknown = LauncherSettings.of(values)
    assert unknown + settings.problems() == problems


FIELDS = ("backend, max_parallel, gpus, runs_per_task, parallel_per_task, start, wait, resume, dry_run, "
          "max_retries, timeout_min, lean, slurm")


@pytest.mark.parametrize("overrides, problems", [
    pytest.param(["hydra.launcher.max_parallel=2", "hydra.launcher.slurm.partition=gpu", "+hydra.launcher.gpus=[0]",
                  "hydra.launcher.slurm.additional_parameters.x=1", "hydra.launcher._target_=a.B", "hydra.sweep.dir=d",
                  "lr=1", "hydra/launcher=hydraflow"], [], id="valid-and-others-left-alone"),
    pytest.param(["hydra.launcher.max_paralel=2"],
                 [f"max_paralel: unknown field (did you mean 'max_parallel'?); valid fields: {FIELDS}"], id="typo"),
    pytest.param(["++hydra.launcher.max_paralel=2", "~hydra.launcher.max_paralel"],
                 [f"max_paralel: unknown field (did you mean 'max_parallel'?); valid fields: {FIELDS}"],
                 id="plus-and-tilde-said-once"),
    pytest.param(["hydra.launcher.slurm.partitio=gpu"],
                 ["slurm.partitio: unknown field (did you mean 'partition'?); valid fields: account, "
                  "additional_parameters, array_parallelism, comment, constraint, cpus_per_gpu, cpus_per_task, "
                  "dependency, exclude, exclusive, gpus_per_node, gpus_per_task, gres, job_name, mail_type, mail_user, "
                  "max_array_size, max_num_timeout, mem_gb, mem_per_cpu, mem_per_gpu, nodelist, nodes, partition, "
                  "python, qos, setup, signal_delay_s, srun_args, stderr_to_stdout, submitit_folder, tasks_per_node, "
                  "teardown, timeout_min, use_srun, wckey"], id="slurm-field-typo"),
    pytest.param(["hydra.launcher.colour=red"], [f"colour: unknown field; valid fields: {FIELDS}"],
                 id="no-close-name"),
])
def test_misspelt_settings_on_a_command_line(overrides, problems):
    assert unknown_overridden(overrides) == problems


def test_a_slurm_field_resolved_per_run_is_not_checked_as_written():
    settings, _ = LauncherSettings.of({"slurm": {"cpus_per_task": "${model.cpus}"}})
    assert settings.problems() == ["slurm.cpus_per_task must be a whole number of at least 1, not '${model.cpus}'"]
    assert settings.problems(slurm_as_written=("cpus_per_task",)) == []


def test_every_setting_has_its_check_and_its_field_in_hydras_node():
    names = [f.name for f in dataclasses.fields(LauncherSettings)]
    assert list(CHECKS) == names
    node = OmegaConf.structured(config_class("some.Launcher"))
    assert list(node) == ["_target_", *names]
    assert node._target_ == "some.Launcher" and node.backend == "local" and node.slurm.array_parallelism == 256
    slurm_node = OmegaConf.structured(config_class("some.Launcher", "SlurmConf", backend="slurm"))
    assert slurm_node.backend == "slurm"
    with pytest.raises(Exception, match="max_parallel"):  # typed as LauncherSettings declares it
        node.max_parallel = "many"


@pytest.mark.parametrize("values, expected", [
    pytest.param({}, {"max_parallel": 1, "gpus": (), "timeout": None, "wait": True}, id="local-defaults"),
    pytest.param({"max_parallel": 3, "gpus": [0, "1"], "timeout_min": 0.5},
                 {"max_parallel": 3, "gpus": ("0", "1"), "timeout": 30.0}, id="local"),
    pytest.param({"backend": "slurm", "slurm": {"partition": "gpu", "cpus_per_task": "${c}"}},
                 {"max_parallel": None, "slurm": {"partition": "gpu"}, "job_name": "train"}, id="slurm-per-run-left-out"),
    pytest.param({"backend": "slurm", "slurm": {"job_name": "mine"}}, {"job_name": "mine"}, id="slurm-job-name"),
])
def test_the_executors_options_are_made_from_the_settings(values, expected):
    settings, _ = LauncherSettings.of(values)
    options = settings.options("train", slurm_as_written=("cpus_per_task",))
    assert {name: getattr(options, name) for name in expected} == expected


def test_the_manifest_records_every_setting_but_dry_run():
    settings, _ = LauncherSettings.of({"gpus": "0,1", "max_retries": 2})
    recorded = settings.recorded()
    assert set(recorded) == {f.name for f in dataclasses.fields(LauncherSettings)} - {"dry_run"}
    assert recorded["gpus"] == ["0", "1"] and recorded["max_retries"] == 2


def test_hydras_node_pickles_with_a_runs_config():
    """A run's JobReturn travels from a forked worker pickled, its config's node types with it."""
    import pickle

    from hydra_plugins.hydraflow_launcher.config import HydraflowLauncherConf, HydraflowSlurmLauncherConf

    for conf in (HydraflowLauncherConf, HydraflowSlurmLauncherConf):
        node = OmegaConf.structured(conf)
        assert pickle.loads(pickle.dumps(node)) == node
