#!/usr/bin/env bash
# .ci/slurm/stop-cluster.sh: stop the local cluster that start-cluster.sh started.
#
#   bash .ci/slurm/stop-cluster.sh           # keep state (job ids, accounting DB)
#   bash .ci/slurm/stop-cluster.sh --purge   # also delete $LOCAL_SLURM_DIR and our configs
#
# Jobs still on the cluster are killed first, so that no job or slurmstepd outlives
# it. Then each daemon named in $LOCAL_SLURM_DIR/run/*.pid is stopped, and only if
# the process behind that pid still is that daemon. Nothing running is a no-op.

set -uo pipefail

STATE=${LOCAL_SLURM_DIR:-/var/lib/hydraflow-slurm}
RUN=$STATE/run
TAG="# written by hydraflow .ci/slurm/start-cluster.sh"
purge=0
case ${1:-} in
    --purge) purge=1 ;;
    "") ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

say() { echo "[slurm-cluster] $*" >&2; }
(($(id -u) == 0)) || { say "error: run me as root"; exit 1; }

. "$(dirname "${BASH_SOURCE[0]}")/pids.sh"  # pid_of NAME
gone() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2> /dev/null) || return 0
    [[ -z $state || $state == Z || $state == X ]]
}
ours() { head -n 1 "$1" 2> /dev/null | grep -qxF "$TAG"; }

if [[ -d $RUN ]]; then
    if pid_of slurmctld > /dev/null && pid_of slurmd > /dev/null && ours /etc/slurm/slurm.conf; then
        mapfile -t jobs < <(squeue -h -o %A 2> /dev/null | sort -u)
        if ((${#jobs[@]})); then
            say "killing ${#jobs[@]} job(s) left on the cluster"
            scancel --full --signal=KILL "${jobs[@]}" 2> /dev/null
            scancel "${jobs[@]}" 2> /dev/null
            for _ in $(seq 40); do
                [[ -z $(squeue -h -o %A 2> /dev/null) ]] && break
                sleep 0.25
            done
        fi
    fi
    pids=()
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        if pid=$(pid_of "$name"); then
            say "stopping $name (pid $pid)"
            kill -TERM "$pid" 2> /dev/null
            pids+=("$pid")
            # slurmctld reports to slurmdbd on exit, slurmdbd writes to MariaDB:
            # wait for each before stopping what it depends on
            for _ in $(seq 150); do gone "$pid" && break; sleep 0.1; done
            if ! gone "$pid"; then
                say "$name (pid $pid) still running after 15 s: SIGKILL"
                kill -KILL "$pid" 2> /dev/null
            fi
        fi
        rm -f "$RUN/$name.pid"
    done
    rm -f "$STATE/munge/munged.pid" "$RUN/slurmd.node"
fi

if ((purge)); then
    say "deleting $STATE and the configs in /etc/slurm written by start-cluster.sh"
    rm -rf "$STATE"
    for f in /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf; do
        ours "$f" && rm -f "$f"
    done
fi
say "stopped"
exit 0
