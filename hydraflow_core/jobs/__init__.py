"""Job definitions: ``hydraflow.yaml`` read, checked and turned into frozen dataclasses."""

from hydraflow_core.jobs.model import KINDS, Job, JobFile, Step

__all__ = ["KINDS", "Job", "JobFile", "Step"]
