#!/usr/bin/env bash
# Handler for the `train_array` job, one Slurm array task per batch:
#   submit: sbatch --array=0-{last} submit_array.sh {file}
# Slurm runs this script once per task, in the directory sbatch was started
# from (hydraflow starts it beside hydraflow.yaml); task N runs line N+1 of the
# batches file (batch N). Each line is shell-quoted, so `eval` gives back the
# exact arguments, newlines in values included.
#SBATCH --job-name=train_array
set -euo pipefail
line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$1")
eval "set -- $line"
exec python train.py -m "$@"
