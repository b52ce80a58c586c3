"""The checks of ``hydraflow.yaml``: a walk over its PyYAML nodes that collects every problem.

Each problem reads ``FILE:LINE: jobs.NAME.KEY: message`` (with a did-you-mean
where a key is close to a valid one); :mod:`.load` reports them all at once.
"""

from __future__ import annotations

import difflib
import re
from typing import Dict, List, Optional, Tuple

import yaml

from hydraflow_core.errors import HydraflowError, did_you_mean
from hydraflow_core.jobs.model import KINDS, Job, Step
from hydraflow_core.jobs.shell import split as split_words
from hydraflow_core.jobs import original
from hydraflow_core.jobs.original import OriginalChecks
from hydraflow_core.jobs.settings import SettingChecks
from hydraflow_core.jobs.yaml_nodes import describe
from hydraflow_core.jobs.batches import (check_batch, check_settings, joined_sweeps, key_twice_problem, merge_with,
                                         step_count, sweep_dir_problem, zip_choices)
from hydraflow_core.jobs.submit import SUBMIT_PLACEHOLDERS, submit_placeholders

JOB_KEYS = (*KINDS, "with", "max_parallel", "timeout_min", "steps", "slurm")
STEP_KEYS = ("batch", "zip", "args", "with", "slurm")
_JOB_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_CALL_TARGET = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"


class Checker(SettingChecks, OriginalChecks):
    """Walks the node tree, collecting problems instead of stopping at the first."""

    def __init__(self, name: str, lines: List[str]) -> None:
        self.name = name
        self.lines = lines
        self.problems: List[str] = []
        self.lines_of_problems: List[int] = []
        self.job_names: List[str] = []
        self.mixed = False  # a job's one problem of both schemas in it is reported

    def problem(self, node: yaml.Node, key: str, message: str, line: Optional[int] = None) -> None:
        line = node.start_mark.line + 1 if line is None else line
        self.problems.append(f"{self.name}:{line}: {key or '(top level)'}: {message}")
        self.lines_of_problems.append(line)

    def sorted_problems(self) -> List[str]:
        """Problems in file order (stable for one line)."""
        order = sorted(range(len(self.problems)), key=lambda i: self.lines_of_problems[i])
        return [self.problems[i] for i in order]

    def line_of(self, node: yaml.Node, needle: str) -> Optional[int]:
        """The file line, within ``node``, that holds ``needle`` (an override of a block)."""
        for number in range(node.start_mark.line, min(node.end_mark.line + 1, len(self.lines))):
            if needle in self.lines[number]:
                return number + 1
        return None

    def tagged(self, node: yaml.Node, key: str) -> bool:
        """Report an explicit YAML tag: ``!!binary`` would turn base64 text into a command."""
        tag = getattr(node, "explicit_tag", None)
        if tag is None:
            return False
        shown = "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag
        self.problem(node, key, f"YAML tag '{shown}' is not allowed; write plain text (quote it if needed)")
        return True

    def mapping(self, node: yaml.Node, key: str, allowed, foreign: Optional[Dict[str, str]] = None,
                also: Tuple[str, ...] = ()) -> Dict[str, Tuple[yaml.Node, yaml.Node]]:
        """``{name: (key node, value node)}``, reporting unknown and repeated keys.

        ``foreign``: the other schema's keys, each with its problem (one per job is
        reported); ``also``: the other schema's keys, suggested for a typo when the
        job's schema is not known yet.
        """
        if self.tagged(node, key):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, key, f"expected a mapping, got {describe(node)}")
            return {}
        out: Dict[str, Tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            where = f"{key}.{name}" if key else str(name)
            if name is None or getattr(key_node, "explicit_tag", None):
                self.problem(key_node, key, "keys must be plain names")
            elif name in out:
                self.problem(key_node, where, "repeated key (the first is on line "
                             f"{out[name][0].start_mark.line + 1})")
            elif foreign and name in foreign:
                if not self.mixed:
                    self.problem(key_node, where, foreign[name])
                    self.mixed = True
            elif allowed is not None and name not in allowed:
                close = difflib.get_close_matches(name, [*allowed, *also], n=1)
                valid = also if close and close[0] not in allowed else allowed
                self.problem(key_node, where, f"unknown key{did_you_mean(name, valid)}; "
                             f"valid keys: {', '.join(valid)}")
            else:
                out[name] = (key_node, value_node)
        return out

    def root(self, node: yaml.Node, only: Optional[str] = None) -> Dict[str, Job]:
        top = self.mapping(node, "", ("jobs",))
        if "jobs" not in top:
            if isinstance(node, yaml.MappingNode):
                self.problem(node, "jobs", "missing: the file needs a 'jobs:' mapping")
            return {}
        jobs_node = top["jobs"][1]
        jobs = {}
        for name, (key_node, value_node) in self.mapping(jobs_node, "jobs", None).items():
            if not _JOB_NAME.fullmatch(name):
                self.problem(key_node, f"jobs.{name}", "a job name uses letters, digits, '_', '.' and '-'")
                continue
            self.job_names.append(name)
            if only is not None and name != only:
                continue
            job = self.job(name, key_node, value_node)
            if job is not None:
                jobs[name] = job
        if not self.job_names and not self.problems:
            self.problem(jobs_node, "jobs", "no job defined")
        return jobs

    def job(self, name: str, key_node: yaml.Node, node: yaml.Node) -> Optional[Job]:
        key = f"jobs.{name}"
        if self.tagged(node, key):
            return None
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, key, f"expected a mapping with run, call or submit, got {describe(node)}")
            return None
        before = len(self.problems)
        self.mixed = False
        schema, decided = self.schema(node)
        if schema is None:
            fields = self.mapping(node, key, JOB_KEYS, also=original.JOB_KEYS)
        else:
            foreign = original.foreign_keys(schema, "job", decided.value, decided.start_mark.line + 1)
            fields = self.mapping(node, key, JOB_KEYS if schema == "steps" else original.JOB_KEYS, foreign)
        names = {"with": "add", "steps": "sets"} if schema == "sets" else {"with": "with", "steps": "steps"}
        kinds = [k for k in KINDS if k in fields]
        kind = target = None
        lead: Tuple[str, ...] = ()
        if len(kinds) != 1:
            message = ("needs one of run, call or submit" if not kinds
                       else f"has {' and '.join(kinds)}; give exactly one of run, call or submit")
            self.problem(key_node, key, message)
        else:
            kind = kinds[0]
            target, lead = self.target(kind, fields[kind][1], f"{key}.{kind}", schema)
        with_ = self.overrides(fields.get(names["with"]), f"{key}.{names['with']}", check="with")
        max_parallel = self.max_parallel(fields.get("max_parallel"), f"{key}.max_parallel")
        timeout_min = self.timeout_min(fields.get("timeout_min"), f"{key}.timeout_min")
        slurm = self.slurm(fields.get("slurm"), f"{key}.slurm")
        if schema == "sets":
            steps_and_nodes = self.sets(fields.get("sets"), f"{key}.sets", decided.value, decided.start_mark.line + 1)
        else:
            items = (original.foreign_keys("steps", "item", decided.value, decided.start_mark.line + 1)
                     if schema else None)
            steps_and_nodes = self.steps(fields.get("steps"), f"{key}.steps", items)
        if len(self.problems) > before:
            return None
        steps = tuple(step for step, _ in steps_and_nodes)
        self.one_key_one_place(key, with_, fields.get(names["with"]), steps_and_nodes, schema == "sets")
        if len(self.problems) > before:
            return None
        where = f"{self.name}:{fields[kind][1].start_mark.line + 1}"
        if (slurm or any(step.slurm for step in steps)) and kind != "run":
            self.problem(fields[kind][0], f"{key}.slurm", f"slurm: sends the batches of a 'run:' job to Slurm; "
                         f"this job has '{kind}:'")
            return None
        if timeout_min is not None and (kind != "run" or slurm or any(step.slurm for step in steps)):
            self.problem(fields["timeout_min"][0], f"{key}.timeout_min", "timeout_min limits the batches a 'run:' "
                         "job runs on this machine; " + (f"this job has '{kind}:'" if kind != "run" else
                                                         "on Slurm a batch's limit is its slurm: timeout_min"))
            return None
        return Job(name, kind, target, with_, max_parallel, steps, where=where, slurm=slurm or {},
                   timeout_min=timeout_min, lead=lead, schema=schema or "steps")

    def schema(self, node: yaml.MappingNode) -> Tuple[Optional[str], Optional[yaml.Node]]:
        """The job's schema ("steps", "sets" or None), and the key node that decides it."""
        keys = [k for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
        schema = original.schema_of([k.value for k in keys])
        decided = next((k for k in keys if original.schema_of([k.value]) == schema), None) if schema else None
        return schema, decided

    def one_key_one_place(self, key: str, job_with, job_with_pair, steps_and_nodes, sets: bool = False) -> None:
        """A batch-grid key set again by ``args`` or ``with``; a ``hydra.sweep.dir`` for many batches.

        ``sets``: the job is in HydraFlow 0.23's schema, so messages name ``sets``, ``all`` and ``add``.
        """
        names = {"steps": "sets", "args": "all", "with": "add"} if sets else {n: n for n in ("steps", "args", "with")}
        total = sum(step_count(step) for step, _ in steps_and_nodes)
        for number, (step, nodes) in enumerate(steps_and_nodes):
            settings = merge_with(job_with, step.with_)
            problem = key_twice_problem(step, {names["args"]: step.args, names["with"]: settings})
            if problem is not None:
                label, setting, message = problem
                field = "args" if label == names["args"] else "with"
                if field == "with" and setting not in step.with_:
                    where, node = f"{key}.{names['with']}", job_with_pair[1]
                else:
                    where, node = f"{key}.{names['steps']}[{number}].{names[field]}", nodes[field]
                self.problem(node, where, message, self.line_of(node, setting.split("=", 1)[0]))
        problem = sweep_dir_problem(total)
        if problem is None:
            return
        for number, (step, nodes) in enumerate(steps_and_nodes):
            for where, settings, node in ((f"{key}.{names['steps']}[{number}].{names['with']}", step.with_,
                                           nodes.get("with")),
                                          (f"{key}.{names['with']}", job_with, job_with_pair and job_with_pair[1])):
                if node is not None and any(s.split("=", 1)[0].lstrip("+") == "hydra.sweep.dir" for s in settings):
                    self.problem(node, where, problem, self.line_of(node, "hydra.sweep.dir"))
                    return

    def target(self, kind: str, node: yaml.Node, key: str,
               schema: Optional[str] = None) -> Tuple[Optional[str], Tuple[str, ...]]:
        """The command or function, and the job's ``lead`` (see :mod:`.original`)."""
        target = self.text(node, key)
        if target is None:
            return None, ()
        lead: Tuple[str, ...] = ()
        if schema == "sets" and kind == "call":
            split = self.call_words(node, key, target)
            if split is None:
                return None, ()
            target, lead = split
        elif schema == "sets" and kind == "submit":
            lead = (original.MULTIRUN,)
        if kind == "submit":
            unknown = [n for n in submit_placeholders(target) if n not in SUBMIT_PLACEHOLDERS]
            if unknown:
                valid = ", ".join("{" + n + "}" for n in SUBMIT_PLACEHOLDERS)
                braced = ["{" + n + "}" for n in SUBMIT_PLACEHOLDERS]
                self.problem(node, key, f"unknown placeholder '{{{unknown[0]}}}'"
                             f"{did_you_mean('{' + unknown[0] + '}', braced)}; valid: {valid} "
                             "(write {{ and }} for literal braces)")
                return None, ()
        if kind == "call":
            if not _CALL_TARGET.fullmatch(target):
                self.problem(node, key, "expected module.function, e.g. launch.sweep")
                return None, ()
        else:
            words = self.words(node, key, target)
            if words is None:
                return None, ()
            if not words:
                self.problem(node, key, "empty command")
                return None, ()
        return target, lead

    def steps(self, pair, key: str,
              foreign: Optional[Dict[str, str]] = None) -> Optional[List[Tuple[Step, Dict[str, yaml.Node]]]]:
        """The merged steps, each with the value node of each of its fields (``foreign``: see ``mapping``)."""
        if pair is None:
            return [(Step(), {})]
        node = pair[1]
        if self.tagged(node, key):
            return None
        if node.tag == _NULL:
            return [(Step(), {})]
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, key, f"expected a list of steps, got {describe(node)}")
            return None
        merged: List[Dict[str, Tuple[yaml.Node, str]]] = []
        ok = True
        for index, item in enumerate(node.value):
            where = f"{key}[{index}]"
            fields = self.mapping(item, where, STEP_KEYS, foreign)
            starts_step = "batch" in fields or "zip" in fields or not merged
            if starts_step:
                merged.append({})
            for name, (key_node, value_node) in fields.items():
                if name in merged[-1]:
                    self.problem(key_node, f"{where}.{name}",
                                 f"the step already has '{name}' (from {merged[-1][name][1]}); a list "
                                 "item without 'batch' or 'zip' is merged into the one before it")
                    ok = False
                else:
                    merged[-1][name] = (value_node, where)
        steps = []
        for fields in merged or [{}]:
            values = {}
            for name in STEP_KEYS:
                if name in fields:
                    value_node, where = fields[name]
                    if name == "slurm":
                        values[name] = self.slurm((None, value_node), f"{where}.{name}")
                    else:
                        values[name] = self.overrides((None, value_node), f"{where}.{name}", check=name)
                    ok = ok and values[name] is not None
            if ok:
                steps.append((Step(values.get("batch", ()), values.get("zip", ()),
                                   values.get("args", ()), values.get("with", ()), slurm=values.get("slurm") or {}),
                              {name: fields[name][0] for name in fields}))
        return steps if ok else None

    def overrides(self, pair, key: str, check: Optional[str] = None,
                  named: Optional[str] = None) -> Optional[Tuple[str, ...]]:
        """A string (or list of strings) of shell-like words; ``check`` names the step field, ``named``
        the key it was read from when that is HydraFlow 0.23's (``all`` for ``args``)."""
        if pair is None:
            return ()
        node = pair[1]
        if self.tagged(node, key):
            return None
        if isinstance(node, yaml.SequenceNode):
            texts = [self.text(item, key) for item in node.value]
            if any(t is None for t in texts):
                return None
        else:
            texts = [self.text(node, key)]
            if texts[0] is None:
                return None
        words: List[str] = []
        for text in texts:
            split = self.words(node, key, text)
            if split is None:
                return None
            words.extend(split)
        flag = next((w for w in words if w.startswith("-")), None) if check == "with" else None
        if flag is not None:  # HydraFlow 0.23 passed any word of `add` on to the app's command line
            self.problem(node, key, f"'{flag}' is a Hydra flag, not an override: give it in the command "
                         f"(run: python train.py {flag})", self.line_of(node, flag))
            return None
        if check is not None:
            try:
                if check == "batch":
                    check_batch(words)
                elif check == "zip":
                    zip_choices(words)
                elif check == "args":
                    joined_sweeps(words, named or "args")
                else:
                    check_settings(words)
            except HydraflowError as error:
                needle = getattr(error, "override", None)
                line = self.line_of(node, needle) if needle else None
                message = str(error) if named is None else str(error).replace(" to batch", " to each")
                self.problem(node, key, message, line)
                return None
        return tuple(words)

    def text(self, node: yaml.Node, key: str) -> Optional[str]:
        """A scalar's text exactly as written (never YAML's reading of it)."""
        if self.tagged(node, key):
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL and not node.style:
            self.problem(node, key, f"expected text, got {describe(node)}")
            return None
        return node.value

    def words(self, node: yaml.Node, key: str, text: str) -> Optional[List[str]]:
        try:
            return split_words(text)
        except ValueError as error:
            self.problem(node, key, f"{error} in: {text}")
            return None
