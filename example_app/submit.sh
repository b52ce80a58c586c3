#!/usr/bin/env bash
# Handler for the `train_submit` job: $1 is a file holding one batch per line
# (shell-quoted Hydra arguments; a value with a newline is written as $'...',
# so every batch is one line). Here it runs each batch locally, one after
# another; on a cluster see the `train_array` job (sbatch --array, placeholders).
set -euo pipefail
while IFS= read -r line; do
    eval "set -- $line"
    python train.py -m "$@"
done < "$1"
