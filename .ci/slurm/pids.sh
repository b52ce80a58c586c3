# Shared by start-cluster.sh and stop-cluster.sh (sourced; needs $RUN, the pid-file directory).

# pid_of NAME: print the pid from $RUN/NAME.pid when that process is alive (not a
# zombie: this machine's init reaps late) and really is NAME (Debian's slurm
# binaries are called slurmctld-wlm / slurmd-wlm behind alternatives).
pid_of() {
    local pid state comm
    pid=$(tr -cd '0-9' 2> /dev/null < "$RUN/$1.pid") || return 1
    [[ -n $pid ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2> /dev/null) || return 1
    [[ $state != Z && $state != X && -n $state ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2> /dev/null) || return 1
    [[ $comm == "$1" || $comm == "$1-wlm" ]] || return 1
    echo "$pid"
}
