#!/bin/bash

# Parameters
#SBATCH --array=0-199%200
#SBATCH --error=/work/main/tests/benchmarks/work-slurm/sweep-hydraflow-1796121100536292432/.submitit/%A_%a/%A_%a_0_log.err
#SBATCH --job-name=app
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --open-mode=append
#SBATCH --output=/work/main/tests/benchmarks/work-slurm/sweep-hydraflow-1796121100536292432/.submitit/%A_%a/%A_%a_0_log.out
#SBATCH --signal=USR2@120
#SBATCH --time=60
#SBATCH --wckey=submitit

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /work/main/tests/benchmarks/work-slurm/sweep-hydraflow-1796121100536292432/.submitit/%A_%a/%A_%a_%t_log.out --error /work/main/tests/benchmarks/work-slurm/sweep-hydraflow-1796121100536292432/.submitit/%A_%a/%A_%a_%t_log.err /work/main/tests/benchmarks/.venv/bin/python -u -m submitit.core._submit /work/main/tests/benchmarks/work-slurm/sweep-hydraflow-1796121100536292432/.submitit/%j
