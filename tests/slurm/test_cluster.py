"""The local Slurm cluster itself (.ci/slurm/start-cluster.sh): the things hydraflow relies on."""

from __future__ import annotations

import subprocess
import time

from slurm.conftest import max_array_size, sacct_rows, sbatch, wait_gone


def test_sbatch_wrap_completes_and_sacct_reports_it(slurm_cluster, tmp_path):
    out = tmp_path / "job.out"
    job = sbatch("-o", str(out), "--wrap", "echo hello from $SLURM_JOB_ID")
    wait_gone(job)
    assert sacct_rows(job) == [(job, "COMPLETED")]
    assert out.read_text().strip() == f"hello from {job}"


def test_failing_job_is_failed_in_sacct(slurm_cluster, tmp_path):
    job = sbatch("-o", str(tmp_path / "out"), "--wrap", "exit 3")
    assert sacct_rows(job, ("JobID", "State", "ExitCode")) == [(job, "FAILED", "3:0")]


def test_array_with_parallelism_limit(slurm_cluster, tmp_path):
    # each task records when it ran; %2 allows at most two at a time
    script = f'echo "$(date +%s.%N) $(sleep 1; date +%s.%N)" > {tmp_path}/task$SLURM_ARRAY_TASK_ID'
    job = sbatch("-o", "/dev/null", "--array=0-3%2", "--wrap", script)
    rows = sacct_rows(job, count=4)
    assert sorted(rows) == [(f"{job}_{i}", "COMPLETED") for i in range(4)]
    spans = [tuple(map(float, (tmp_path / f"task{i}").read_text().split())) for i in range(4)]
    for start, _ in spans:
        running = sum(1 for s, e in spans if s <= start < e)
        assert running <= 2, f"{running} tasks ran at once: {spans}"


def test_scancel_gives_cancelled(slurm_cluster, tmp_path):
    running = sbatch("-o", str(tmp_path / "r.out"), "--wrap", "sleep 120")
    pending = sbatch("-o", str(tmp_path / "p.out"), "--begin=now+1hour", "--wrap", "true")
    deadline = time.monotonic() + 30
    while subprocess.run(["squeue", "-h", "-j", running, "-o", "%T"], capture_output=True,
                         text=True).stdout.strip() != "RUNNING":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    subprocess.run(["scancel", running, pending], check=True)
    rows = dict(sacct_rows([running, pending], count=2))
    assert rows[running].startswith("CANCELLED"), rows
    assert rows[pending].startswith("CANCELLED"), rows


def test_impossible_request_is_refused_at_submit(slurm_cluster):
    # EnforcePartLimits=ALL: a job that can never run fails now instead of pending forever
    result = subprocess.run(["sbatch", "-c", "9999", "--wrap", "true"], capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip()


def test_max_array_size_knob(slurm_restart, tmp_path):
    default = max_array_size()
    with slurm_restart(max_array_size=5):
        assert max_array_size() == 5
        refused = subprocess.run(["sbatch", "--array=0-7", "-o", "/dev/null", "--wrap", "true"],
                                 capture_output=True, text=True)
        assert refused.returncode != 0
        assert "Invalid job array specification" in refused.stderr
        job = sbatch("--array=0-4", "-o", "/dev/null", "--wrap", "true")
        assert len(sacct_rows(job, count=5)) == 5
    assert max_array_size() == default
