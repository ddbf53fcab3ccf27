#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests/test_slurm.py and for trying
# `snakemake --profile profiles/slurm` without a real cluster.
#
#   scripts/slurm.sh install   apt-get install Debian's slurm-wlm and munge (skipped when present)
#   scripts/slurm.sh start     install, write slurm.conf, start munged, slurmctld and slurmd, wait
#                              until `sinfo` shows the node idle; prints `export SLURM_CONF=...`
#   scripts/slurm.sh stop      stop the daemons this state folder's pid files name (nothing else)
#   scripts/slurm.sh status    exit 0 when all three daemons of the state folder are running
#   scripts/slurm.sh env       print `export SLURM_CONF=...` (the client commands read it)
#
# Everything (slurm.conf, spool, logs, pid files, munge key and socket) lives in one state folder,
# $VGRERANK_SLURM_DIR (default ${TMPDIR:-/tmp}/vgrerank-slurm); the daemons listen on 127.0.0.1
# only (ports $VGRERANK_SLURM_PORT and +1, default 6817/6818). The node is `localhost` with this
# machine's CPUs (nproc) and 90 % of its available memory; no accounting (slurmdbd), so use the
# squeue status command (profiles/slurm does). Idempotent: `start` on a running cluster only
# waits for the node, `stop` only signals processes whose pid file is in the state folder and
# whose command line is the daemon it expects. Needs root (or sudo) for apt and the daemons.
#
# One file outside the state folder: /etc/slurm/slurm.conf, a symlink to the state folder's
# slurm.conf (made by `start` when the path is free, removed by `stop`). The jobs need it: the
# Snakemake SLURM plugin's job step drops every SLURM_* variable, SLURM_CONF included, before
# its inner `srun`, which then only finds the default path.
set -euo pipefail

STATE=${VGRERANK_SLURM_DIR:-${TMPDIR:-/tmp}/vgrerank-slurm}
PORT=${VGRERANK_SLURM_PORT:-6817}
CONF=$STATE/slurm.conf
SYSTEM_CONF=/etc/slurm/slurm.conf
MUNGE_SOCKET=$STATE/munge/munge.socket
WAIT_S=${VGRERANK_SLURM_WAIT_S:-60}
export SLURM_CONF=$CONF

log() { echo "slurm.sh: $*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif have sudo; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# PATH of sbin tools for non-root shells
PATH=$PATH:/usr/sbin:/sbin

install() {
    if have slurmctld && have slurmd && have sinfo && have munged; then
        return 0
    fi
    have apt-get || die "apt-get not found: install slurm-wlm (slurmctld, slurmd, client) and munge yourself"
    log "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # the packages' service start is not needed (and fails without systemd): this script starts them
    if ! as_root apt-get install -y --no-install-recommends slurm-wlm munge; then
        as_root apt-get update
        as_root apt-get install -y --no-install-recommends slurm-wlm munge
    fi
    have slurmctld && have slurmd && have munged || die "slurm-wlm/munge installed but daemons not on PATH"
}

# pid of daemon $1 (munged|slurmctld|slurmd) when its pid file names a live process running it
daemon_pid() {
    local name=$1 pidfile pid
    case $name in
    munged) pidfile=$STATE/munge/munged.pid ;;
    *) pidfile=$STATE/run/$name.pid ;;
    esac
    [ -s "$pidfile" ] || return 1
    pid=$(tr -dc 0-9 <"$pidfile")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    # the process must be this daemon, started on this state folder (not a recycled pid)
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$STATE" || return 1
    echo "$pid"
}

running() { daemon_pid "$1" >/dev/null; }

show_log() {
    local file=$1
    if [ -s "$file" ]; then
        log "last lines of $file:"
        tail -n 30 "$file" >&2
    else
        log "($file is empty or missing)"
    fi
}

write_conf() {
    local cpus mem_kb mem_mb
    cpus=$(nproc)
    mem_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
    mem_mb=$((mem_kb / 1024 * 9 / 10))
    mkdir -p "$STATE"/{spool/ctld,spool/d,log,run}
    cat >"$CONF" <<EOF
# written by scripts/slurm.sh: a single-node cluster on 127.0.0.1, state in $STATE
ClusterName=vgrerank
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# squeue shows finished jobs for MinJobAge s: >= 3x the plugin's first status delay
MinJobAge=300
# kill at the time limit, fast
OverTimeLimit=0
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    log "wrote $CONF (CPUs=$cpus RealMemory=$mem_mb)"
}

# /etc/slurm/slurm.conf -> $CONF (see the header); never replaces another cluster's file
link_conf() {
    if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$CONF" ]; then
        return 0
    fi
    if [ -e "$SYSTEM_CONF" ] || [ -L "$SYSTEM_CONF" ]; then
        die "$SYSTEM_CONF exists and is not a link to $CONF: this machine has its own SLURM \
configuration (use that cluster, or move the file away)"
    fi
    as_root mkdir -p "$(dirname "$SYSTEM_CONF")"
    as_root ln -s "$CONF" "$SYSTEM_CONF"
}

unlink_conf() {
    if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$CONF" ]; then
        as_root rm -f "$SYSTEM_CONF"
    fi
}

start_munged() {
    running munged && return 0
    mkdir -p "$STATE/munge"
    chmod 700 "$STATE/munge"
    if [ ! -s "$STATE/munge/munge.key" ]; then
        dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$STATE/munge/munge.key"
    fi
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    if ! as_root munged --force --key-file="$STATE/munge/munge.key" --socket="$MUNGE_SOCKET" \
        --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" \
        --seed-file="$STATE/munge/munged.seed"; then
        show_log "$STATE/munge/munged.log"
        die "munged failed to start"
    fi
    for _ in $(seq 50); do
        [ -S "$MUNGE_SOCKET" ] && running munged && return 0
        sleep 0.1
    done
    show_log "$STATE/munge/munged.log"
    die "munged did not come up (socket $MUNGE_SOCKET)"
}

start_daemon() {
    local name=$1
    shift
    running "$name" && return 0
    if ! as_root env SLURM_CONF="$CONF" "$name" -f "$CONF" "$@"; then
        show_log "$STATE/log/$name.log"
        die "$name failed to start"
    fi
    for _ in $(seq 100); do
        running "$name" && return 0
        sleep 0.1
    done
    show_log "$STATE/log/$name.log"
    die "$name exited after starting (see the log above)"
}

wait_idle() {
    local state=""
    for _ in $(seq "$((WAIT_S * 2))"); do
        for d in munged slurmctld slurmd; do
            if ! running "$d"; then
                show_log "$STATE/log/$d.log"
                [ "$d" = munged ] && show_log "$STATE/munge/munged.log"
                die "$d is no longer running"
            fi
        done
        state=$(sinfo -h -N -n localhost -o %T 2>/dev/null | head -n 1 || true)
        case $state in
        idle | mixed | allocated) return 0 ;;
        drain* | down*)
            # a node left down by a previous run: bring it back
            as_root scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
            ;;
        esac
        sleep 0.5
    done
    show_log "$STATE/log/slurmctld.log"
    show_log "$STATE/log/slurmd.log"
    sinfo -N -l >&2 || true
    die "node localhost not idle after ${WAIT_S}s (state: '${state:-no answer}')"
}

start() {
    install
    if ! running slurmctld && ! running slurmd; then
        write_conf
    fi
    link_conf
    start_munged
    # -c: a fresh controller state (no jobs of earlier runs)
    start_daemon slurmctld -c
    start_daemon slurmd -N localhost
    wait_idle
    log "cluster up: $(sinfo -h -N -o '%N %T %c CPUs %m MB' | head -n 1) (state in $STATE)"
    echo "export SLURM_CONF=$CONF"
}

stop() {
    local pid
    for d in slurmd slurmctld munged; do
        if pid=$(daemon_pid "$d"); then
            log "stopping $d (pid $pid)"
            as_root kill -TERM "$pid" || true
            for _ in $(seq 100); do
                [ -e "/proc/$pid" ] || break
                sleep 0.1
            done
            if [ -e "/proc/$pid" ]; then
                log "$d (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
                as_root kill -KILL "$pid" || true
            fi
        fi
    done
    unlink_conf
}

status() {
    local rc=0 pid
    for d in munged slurmctld slurmd; do
        if pid=$(daemon_pid "$d"); then
            echo "$d running (pid $pid)"
        else
            echo "$d not running"
            rc=1
        fi
    done
    return $rc
}

case ${1:-} in
install) install ;;
start) start ;;
stop) stop ;;
status) status ;;
env) echo "export SLURM_CONF=$CONF" ;;
*)
    echo "usage: $0 install|start|stop|status|env   (state: $STATE)" >&2
    exit 2
    ;;
esac
