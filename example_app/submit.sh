#!/usr/bin/env bash
# Handler for the `train_submit` job: $1 is a file holding one batch per line
# (shell-quoted Hydra arguments). On a cluster this script would submit the
# file as one job array, e.g.
#   sbatch --array=1-$(wc -l < "$1") --wrap 'eval "set -- $(sed -n "${SLURM_ARRAY_TASK_ID}p" '"$1"')"; python train.py -m "$@"'
# Here it runs each batch locally, one after another.
set -euo pipefail
while IFS= read -r line; do
    eval "set -- $line"
    python train.py -m "$@"
done < "$1"
