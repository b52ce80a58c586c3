#!/usr/bin/env bash
# .ci/slurm/start-cluster.sh: a real single-node Slurm cluster on localhost for
# hydraflow's Slurm tests and CI.
#
#   bash .ci/slurm/start-cluster.sh            # as root
#   eval "$(bash .ci/slurm/start-cluster.sh)"  # and keep the settings
#
# Daemons, all bound to 127.0.0.1, none of them through systemd, no cgroups:
#   munged     authentication, on a private socket
#   mariadbd   private datadir, only for slurmdbd
#   slurmdbd   accounting, so that `sacct` works (job states after the fact)
#   slurmctld  controller; slurmd  the one compute node (this machine)
# Missing Debian packages are installed with apt-get (daemons blocked from
# auto-starting during the install). Each daemon's pid file lives in
# $LOCAL_SLURM_DIR/run; stop-cluster.sh stops those processes and nothing else.
#
# Idempotent: when everything is up and the configuration is unchanged, a start
# only prints the settings. A daemon that died is started again. A changed
# setting (LOCAL_SLURM_CPUS, LOCAL_SLURM_MAX_ARRAY_SIZE, ...) rewrites the
# config and restarts the daemons that read it.
#
# stdout: KEY=VALUE lines only (also written to $LOCAL_SLURM_DIR/env);
# progress and errors go to stderr.
#
# Settings (environment variables):
#   LOCAL_SLURM_DIR             state, spool, logs, pid files [/var/lib/hydraflow-slurm]
#   LOCAL_SLURM_CPUS            CPUs of the node [4]; more than the machine's cores
#                               is fine (nothing binds tasks) and gives more jobs
#                               per scheduling wave
#   LOCAL_SLURM_MAX_ARRAY_SIZE  MaxArraySize [10001]: array indices 0..N-1
#   LOCAL_SLURM_MEM_MB          RealMemory of the node [90% of MemTotal]
#   LOCAL_SLURM_PARTITION       the default partition [debug]
#   LOCAL_SLURM_CLUSTER         ClusterName [hydraflow]
#   LOCAL_SLURM_KILLWAIT        seconds between SIGTERM and SIGKILL of a job [2]
#   LOCAL_SLURM_MIN_JOB_AGE     seconds a finished job stays in squeue [5]
#   LOCAL_SLURM_CRED_EXPIRE     AuthInfo's cred_expire [10]: a job credential's lifetime,
#                               which is also how long a requeued job waits before it
#                               may start again (Slurm's default, 120 s, is most of the
#                               requeue test's time)
#   LOCAL_SLURM_SCHED_PARAMS    SchedulerParameters [see SCHED_PARAMS below]
#   LOCAL_SLURM_PORT_BASE       slurmctld port; slurmd, slurmdbd use the next two [6817]
#   LOCAL_SLURM_DB_PORT         MariaDB port [16306]
#   LOCAL_SLURM_TIMEOUT         seconds to wait for any one step [60]
#   LOCAL_SLURM_NO_INSTALL=1    never run apt-get
#   LOCAL_SLURM_SITE_LIMITS     a real site's per-user limits, enforced by Slurm, as sacctmgr
#                               association fields for every user, e.g. "MaxSubmitJobs=50
#                               MaxJobs=4" (each array task counts as one job); set on every
#                               start, with no restart (sacctmgr); empty: no limits [empty]
#   LOCAL_SLURM_FORCE=1         overwrite an /etc/slurm/*.conf this script did not write

set -euo pipefail

STATE=${LOCAL_SLURM_DIR:-/var/lib/hydraflow-slurm}
CPUS=${LOCAL_SLURM_CPUS:-4}
MAX_ARRAY_SIZE=${LOCAL_SLURM_MAX_ARRAY_SIZE:-10001}
PARTITION=${LOCAL_SLURM_PARTITION:-debug}
CLUSTER=${LOCAL_SLURM_CLUSTER:-hydraflow}
KILLWAIT=${LOCAL_SLURM_KILLWAIT:-2}
MIN_JOB_AGE=${LOCAL_SLURM_MIN_JOB_AGE:-5}
CRED_EXPIRE=${LOCAL_SLURM_CRED_EXPIRE:-10}
# batch_sched_delay=0: a freed CPU is reused at once (the default 3 s delay makes
# many short jobs ~3x slower); sched_min_interval=0: no throttling of the main
# scheduler between events; bf_interval=1 / sched_interval=2: the periodic passes
# that pick up the next array tasks run every second or two instead of 30 s / 60 s.
SCHED_PARAMS=${LOCAL_SLURM_SCHED_PARAMS:-batch_sched_delay=0,sched_min_interval=0,sched_interval=2,bf_interval=1,default_queue_depth=1000}
CTLD_PORT=${LOCAL_SLURM_PORT_BASE:-6817}
SLURMD_PORT=$((CTLD_PORT + 1))
DBD_PORT=$((CTLD_PORT + 2))
DB_PORT=${LOCAL_SLURM_DB_PORT:-16306}
TIMEOUT=${LOCAL_SLURM_TIMEOUT:-60}
SITE_LIMITS=${LOCAL_SLURM_SITE_LIMITS:-}

ETC=/etc/slurm
SLURM_CONF=$ETC/slurm.conf
DBD_CONF=$ETC/slurmdbd.conf
TAG="# written by hydraflow .ci/slurm/start-cluster.sh"
MUNGE_KEY=/etc/munge/munge.key
RUN=$STATE/run
LOGS=$STATE/log
MUNGE_SOCKET=$STATE/munge/socket
DB_DATA=$STATE/mariadb
DB_SOCKET=$STATE/mariadb.sock
NODE=$(hostname -s)

say() { echo "[slurm-cluster] $*" >&2; }
fail() {
    echo "[slurm-cluster] error: $*" >&2
    local f
    for f in "$LOGS"/*.log; do
        [[ -s $f ]] || continue
        echo "--- tail of $f" >&2
        tail -n 15 "$f" >&2 || true
    done
    exit 1
}

# --- processes ---------------------------------------------------------------
. "$(dirname "${BASH_SOURCE[0]}")/pids.sh"  # pid_of NAME
alive() { pid_of "$1" > /dev/null; }

# halt NAME: stop our own daemon NAME (before a restart with a new config).
halt() {
    local pid
    pid=$(pid_of "$1") || { rm -f "$RUN/$1.pid"; return 0; }
    say "stopping $1 (pid $pid)"
    kill "$pid" 2> /dev/null || true
    local end=$((SECONDS + TIMEOUT))
    while alive "$1"; do
        ((SECONDS < end)) || fail "$1 (pid $pid) ignores SIGTERM"
        sleep 0.1
    done
    rm -f "$RUN/$1.pid"
}

# await DAEMON WHAT COMMAND...: poll COMMAND until it succeeds; give up when
# DAEMON (if not -) has died or after TIMEOUT seconds.
await() {
    local daemon=$1 what=$2 end=$((SECONDS + TIMEOUT)) grace=$((SECONDS + 3))
    shift 2
    until "$@" > /dev/null 2>&1; do
        if [[ $daemon != - ]] && ((SECONDS >= grace)) && ! alive "$daemon"; then
            fail "$daemon died while waiting for $what"
        fi
        ((SECONDS < end)) || fail "gave up after ${TIMEOUT}s waiting for $what"
        sleep 0.2
    done
}

# put FILE MODE: install stdin as FILE when it differs; status 0 means "changed".
put() {
    local file=$1 mode=$2 tmp
    if [[ -e $file ]] && ! head -n 1 "$file" | grep -qxF "$TAG" && [[ ${LOCAL_SLURM_FORCE:-0} != 1 ]]; then
        fail "$file was not written by this script; move it away or set LOCAL_SLURM_FORCE=1"
    fi
    tmp=$(mktemp)
    { echo "$TAG"; cat; } > "$tmp"
    if cmp -s "$tmp" "$file"; then
        rm -f "$tmp"
        return 1
    fi
    install -m "$mode" "$tmp" "$file"
    rm -f "$tmp"
}

(($(id -u) == 0)) || fail "run me as root (apt-get, /etc/slurm, slurmd)"

# --- packages ----------------------------------------------------------------
install_packages() {
    # mariadb-server-core: the server binary without galera, perl or init scripts.
    local want=(munge slurm-client slurmctld slurmd slurmdbd mariadb-server-core mariadb-client-core)
    local missing=() p
    for p in "${want[@]}"; do
        dpkg-query -W -f '${Status}\n' "$p" 2> /dev/null | grep -q ' installed$' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    [[ ${LOCAL_SLURM_NO_INSTALL:-0} != 1 ]] || fail "missing packages: ${missing[*]}"
    say "installing ${missing[*]}"
    local t0=$SECONDS policy=/usr/sbin/policy-rc.d ours=0 rc=0
    if [[ ! -e $policy ]]; then
        # exit 101 = "action forbidden": the postinst scripts start no daemon
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        ours=1
    fi
    # Try with the package lists at hand first (saves the update); when they are
    # missing or stale (a 404), update them and try again. unsafe-io: no fsync
    # per file, this is a throw-away CI machine's cluster.
    local apt=(apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0
        -o Dpkg::Options::=--force-unsafe-io "${missing[@]}")
    {
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" ||
            { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${apt[@]}"; }
    } > "$STATE/apt.log" 2>&1 || rc=$?
    ((ours)) && rm -f "$policy"
    ((rc == 0)) || { tail -n 20 "$STATE/apt.log" >&2; fail "apt-get install failed (log: $STATE/apt.log)"; }
    say "packages installed in $((SECONDS - t0)) s"
}

mkdir -p "$STATE" "$RUN" "$LOGS" "$STATE/ctld" "$STATE/spool" "$ETC"
chmod 755 "$STATE" "$RUN" "$LOGS"
install_packages

if [[ -n ${LOCAL_SLURM_MEM_MB:-} ]]; then
    MEM_MB=$LOCAL_SLURM_MEM_MB
else
    MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
fi
getent hosts "$NODE" > /dev/null || say "warning: host name $NODE does not resolve; add it to /etc/hosts"

# --- munged ------------------------------------------------------------------
start_munged() {
    if [[ ! -s $MUNGE_KEY ]]; then
        say "creating $MUNGE_KEY"
        install -d -m 700 -o munge -g munge /etc/munge
        mungekey --create --keyfile="$MUNGE_KEY" --force
        chown munge:munge "$MUNGE_KEY"
        chmod 600 "$MUNGE_KEY"
    fi
    install -d -m 755 -o munge -g munge "$STATE/munge"
    if ! alive munged; then
        say "starting munged"
        rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock" "$RUN/munged.pid"
        touch "$LOGS/munged.log" && chown munge:munge "$LOGS/munged.log"
        # munged drops nothing: it must be started as the munge user, and it can
        # only write its pid file where that user may write.
        runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCKET" \
            --pid-file="$STATE/munge/munged.pid" --log-file="$LOGS/munged.log" \
            --seed-file="$STATE/munge/seed" --key-file="$MUNGE_KEY" --num-threads=10 ||
            fail "munged did not start"
        await - "munged's pid file" test -s "$STATE/munge/munged.pid"
        cp "$STATE/munge/munged.pid" "$RUN/munged.pid"
    fi
    await munged "a munge credential" sh -c "munge -n -S '$MUNGE_SOCKET' | unmunge -S '$MUNGE_SOCKET'"
}

# --- mariadbd + slurmdbd -----------------------------------------------------
start_accounting() {
    local pwfile=$STATE/db-password fresh=0
    [[ -s $pwfile ]] || (umask 077 && head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pwfile")
    local pw
    pw=$(< "$pwfile")
    if [[ ! -d $DB_DATA/mysql ]]; then
        say "initialising MariaDB in $DB_DATA"
        rm -rf "$DB_DATA"
        mariadb-install-db --no-defaults --user=root --datadir="$DB_DATA" --skip-test-db \
            --auth-root-authentication-method=socket > "$LOGS/mariadb-install.log" 2>&1 ||
            fail "mariadb-install-db failed ($LOGS/mariadb-install.log)"
    fi
    if ! alive mariadbd; then
        say "starting mariadbd on 127.0.0.1:$DB_PORT"
        rm -f "$RUN/mariadbd.pid" "$DB_SOCKET"
        # the core package creates no mysql user, hence --user=root
        setsid /usr/sbin/mariadbd --no-defaults --user=root --datadir="$DB_DATA" \
            --socket="$DB_SOCKET" --pid-file="$RUN/mariadbd.pid" --port="$DB_PORT" \
            --bind-address=127.0.0.1 --skip-name-resolve --log-error="$LOGS/mariadb.log" \
            --innodb-buffer-pool-size=128M --innodb-log-file-size=32M \
            --innodb-lock-wait-timeout=900 --max-connections=50 \
            < /dev/null > /dev/null 2>&1 &
        fresh=1
        await - "mariadbd to answer" mariadb --no-defaults -S "$DB_SOCKET" -uroot -e 'SELECT 1'
        await - "mariadbd's pid file" test -s "$RUN/mariadbd.pid"
    fi
    if ((fresh)) || [[ ! -e $STATE/db-user ]]; then
        mariadb --no-defaults -S "$DB_SOCKET" -uroot <<SQL || fail "could not create the database user"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL
        touch "$STATE/db-user"
    fi

    if put "$DBD_CONF" 600 <<EOF; then halt slurmdbd; fi
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$pw
StorageLoc=slurm_acct_db
EOF
    if ! alive slurmdbd; then
        say "starting slurmdbd on 127.0.0.1:$DBD_PORT"
        rm -f "$RUN/slurmdbd.pid"
        /usr/sbin/slurmdbd < /dev/null || fail "slurmdbd did not start"
        await - "slurmdbd's pid file" test -s "$RUN/slurmdbd.pid"
        await slurmdbd "slurmdbd to answer" sacctmgr -n -P list cluster
    fi
    # slurmctld needs its cluster in the database before it starts
    if ! sacctmgr -n -P list cluster format=cluster 2> /dev/null | grep -qxF "$CLUSTER"; then
        say "adding cluster $CLUSTER to the accounting database"
        sacctmgr -i add cluster "$CLUSTER" > /dev/null || fail "sacctmgr add cluster failed"
    fi
}

# --- slurm.conf --------------------------------------------------------------
# The node's line is kept apart: only a change there needs a new slurmd.
node_line() {
    echo "NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN"
}
write_slurm_conf() {
    put "$SLURM_CONF" 644 <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire: a requeued job starts again after cred_expire + 1 s (not 121 s); a batch
# launch's credential is checked by slurmd within a second of its creation here
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=$CRED_EXPIRE
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups anywhere
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobContainerType=job_container/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
# cores are scheduled, memory is not (a job without --mem does not take the node)
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=$SCHED_PARAMS
# impossible requests (too many CPUs, too much memory, a GPU) fail at sbatch time
# instead of pending forever
EnforcePartLimits=ALL
MaxArraySize=$MAX_ARRAY_SIZE
MaxJobCount=100000
KillWait=$KILLWAIT
MinJobAge=$MIN_JOB_AGE
InactiveLimit=0
Waittime=0
ReturnToService=2
SlurmctldTimeout=60
SlurmdTimeout=120
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# connections to slurmdbd take their munge socket from here, not from AuthInfo
AccountingStoragePass=$MUNGE_SOCKET
# per-user limits (LOCAL_SLURM_SITE_LIMITS) are enforced; set or cleared by sacctmgr, no restart
AccountingStorageEnforce=associations,limits,qos
JobCompType=jobcomp/none
$(node_line)
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

# --- slurmctld + slurmd ------------------------------------------------------
start_slurm() {
    local node_changed=0 slurmd_since=0
    if ! grep -qxF "$(node_line)" "$RUN/slurmd.node" 2> /dev/null; then node_changed=1; fi
    if ((conf_changed)); then
        ((node_changed)) && halt slurmd
        halt slurmctld
    fi
    if ! alive slurmctld; then
        say "starting slurmctld on 127.0.0.1:$CTLD_PORT"
        rm -f "$RUN/slurmctld.pid"
        /usr/sbin/slurmctld < /dev/null || fail "slurmctld did not start"
    fi
    await slurmctld "slurmctld to answer" sh -c 'scontrol ping | grep -q UP'
    if ! alive slurmd; then
        say "starting slurmd on 127.0.0.1:$SLURMD_PORT"
        rm -f "$RUN/slurmd.pid"
        slurmd_since=$(($(date +%s) - 1))
        /usr/sbin/slurmd < /dev/null || fail "slurmd did not start"
        node_line > "$RUN/slurmd.node"
        await slurmd "slurmd to answer" scontrol show slurmd
    elif ((conf_changed)); then
        # slurmd kept running with the old file: have it read the new one
        scontrol reconfigure > /dev/null 2>&1 || true
    fi
    # Ready when the node is idle (or busy); after a restart slurmctld first shows
    # the node from its saved state, so also wait for the new slurmd to register.
    local end=$((SECONDS + TIMEOUT)) resumed=0 info state started
    while :; do
        info=$(scontrol -o show node "$NODE" 2> /dev/null || true)
        state=$(sed -n 's/.* State=\([^ ]*\).*/\1/p' <<< "$info")
        started=$(sed -n 's/.* SlurmdStartTime=\([^ ]*\).*/\1/p' <<< "$info")
        started=$(date -d "$started" +%s 2> /dev/null || echo 0)
        case $state in
            IDLE* | MIXED* | ALLOCATED* | COMPLETING*)
                [[ $state == *DRAIN* ]] || ((started < slurmd_since)) || break ;;
        esac
        if [[ $state == DOWN* || $state == *DRAIN* || $state == *FAIL* ]] && ((!resumed)); then
            say "node $NODE is $state: resuming it"
            scontrol update NodeName="$NODE" State=RESUME > /dev/null 2>&1 || true
            resumed=1
        fi
        ((SECONDS < end)) || fail "node $NODE not ready after ${TIMEOUT}s (state ${state:-unknown})"
        alive slurmd || fail "slurmd died"
        sleep 0.2
    done
}

t0=$SECONDS
# sacctmgr (in start_accounting) already reads slurm.conf: write it first
conf_changed=0
write_slurm_conf && conf_changed=1
start_munged
start_accounting
start_slurm

# Per-user limits: cleared, then set from LOCAL_SLURM_SITE_LIMITS, for every user with an
# association on this cluster (root always has one); slurmctld takes them at once.
set_site_limits() {
    local user
    for user in $(sacctmgr -n -P list assoc cluster="$CLUSTER" format=user 2> /dev/null | sort -u); do
        sacctmgr -i modify user where name="$user" cluster="$CLUSTER" set MaxSubmitJobs=-1 MaxJobs=-1 \
            > /dev/null 2>&1 || true
        if [[ -n $SITE_LIMITS ]]; then
            # shellcheck disable=SC2086  # one Field=Value per word
            sacctmgr -i modify user where name="$user" cluster="$CLUSTER" set $SITE_LIMITS > /dev/null \
                || fail "sacctmgr could not set LOCAL_SLURM_SITE_LIMITS=$SITE_LIMITS for $user"
        fi
    done
    [[ -z $SITE_LIMITS ]] || say "site limits for every user: $SITE_LIMITS"
}
set_site_limits

settings="LOCAL_SLURM_DIR=$STATE
SLURM_CONF=$SLURM_CONF
LOCAL_SLURM_CLUSTER=$CLUSTER
LOCAL_SLURM_PARTITION=$PARTITION
LOCAL_SLURM_NODE=$NODE
LOCAL_SLURM_CPUS=$CPUS
LOCAL_SLURM_MEM_MB=$MEM_MB
LOCAL_SLURM_MAX_ARRAY_SIZE=$MAX_ARRAY_SIZE
LOCAL_SLURM_KILLWAIT=$KILLWAIT
LOCAL_SLURM_MIN_JOB_AGE=$MIN_JOB_AGE
LOCAL_SLURM_CRED_EXPIRE=$CRED_EXPIRE
LOCAL_SLURM_SITE_LIMITS=$SITE_LIMITS"
echo "$settings" > "$STATE/env"
echo "$settings"
say "cluster ready (node $NODE, $CPUS CPUs, MaxArraySize=$MAX_ARRAY_SIZE) in $((SECONDS - t0)) s after install"
