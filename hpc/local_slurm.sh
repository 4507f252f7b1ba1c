#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for testing the workflow's Slurm profile.
#
#   hpc/local_slurm.sh start    install slurm + munge if missing, configure, start, wait until idle
#   hpc/local_slurm.sh status   daemons, sinfo, squeue
#   hpc/local_slurm.sh env      print `export SLURM_CONF=...` (use: eval "$(hpc/local_slurm.sh env)")
#   hpc/local_slurm.sh stop     cancel jobs, stop the daemons, delete the state directory
#                               (`stop --keep-logs` keeps $STATE/log)
#
# Needs root (daemons run as root, packages come from apt). Works without systemd and without
# cgroups (proctrack/linuxproc, task/none), so it runs in containers and small VMs.
# No accounting database: `sacct` does not work, job status comes from `squeue`, which keeps
# finished jobs for MinJobAge (600 s) -- the Snakemake profile sets `slurm-status-command: squeue`.
# Memory limits (--mem) are enforced without cgroups, by polling (jobacct_gather/linux with
# OverMemoryKill): a job above its limit is killed and ends FAILED.
#
# Everything lives under one directory, $SLURM_STATE_DIR (default /tmp/homeworkflow-slurm):
#   etc/slurm.conf   the configuration (clients need SLURM_CONF pointing here, see `env`)
#   log/             slurmctld.log, slurmd.log, munged.log
#   munge/           munged socket + pid; munge/private/ (0700) the key and PRNG seed
#   ctld/ spool/ run/  slurmctld state, slurmd spool, pid files
# /etc/slurm/slurm.conf is made a symlink to etc/slurm.conf (removed by `stop`): Snakemake's
# jobstep executor strips SLURM_CONF before calling `srun` inside each job, so srun must find the
# configuration at the default path. `start` refuses to replace an existing /etc/slurm/slurm.conf
# (SLURM_LOCAL_NO_ETC_LINK=1 starts anyway, without the link; then only sbatch/squeue work, not
# Snakemake). Ports: $SLURM_LOCAL_CTLD_PORT (6817), $SLURM_LOCAL_SLURMD_PORT (6818).
set -euo pipefail

STATE=${SLURM_STATE_DIR:-/tmp/homeworkflow-slurm}
CONF=$STATE/etc/slurm.conf
LOG=$STATE/log
MUNGE_SOCKET=$STATE/munge/munge.socket.2
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
ETC_LINK=/etc/slurm/slurm.conf
START_TIMEOUT=${SLURM_LOCAL_START_TIMEOUT:-90}
export SLURM_CONF=$CONF

say() { echo "local_slurm: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

need_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (daemons and apt-get need it)"
}

install_packages() {
    local missing=()
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    say "installing ${missing[*]} (apt-get)"
    # Keep the packages' service scripts from starting daemons with the stock config.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    local rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
            apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
        fi
    } >"${TMPDIR:-/tmp}/local_slurm_apt.log" 2>&1 || rc=$?
    [[ $made_policy -eq 1 ]] && rm -f "$policy"
    [[ $rc -eq 0 ]] || die "apt-get failed (rc=$rc), see ${TMPDIR:-/tmp}/local_slurm_apt.log"
}

# --- process helpers -------------------------------------------------------------------------
pid_alive() {  # pidfile expected-command-name
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ -n $pid && -d /proc/$pid ]] || return 1
    grep -q "$2" "/proc/$pid/comm" 2>/dev/null
}

stop_pid() {  # pidfile name
    local pid _
    pid_alive "$1" "$2" || { rm -f "$1"; return 0; }
    pid=$(<"$1")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        [[ -d /proc/$pid ]] || break
        sleep 0.2
    done
    if [[ -d /proc/$pid ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$1"
}

# --- configuration ---------------------------------------------------------------------------
write_munge_key() {
    # munged: the socket's directory must be world-searchable, the key's private.
    mkdir -p "$STATE/munge/private"
    chmod 0755 "$STATE/munge"
    chmod 0700 "$STATE/munge/private"
    local key=$STATE/munge/private/munge.key
    if [[ ! -s $key ]]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$key" --force
        else
            dd if=/dev/urandom of="$key" bs=1 count=1024 2>/dev/null
        fi
    fi
    chown root:root "$key"; chmod 0600 "$key"
}

write_conf() {
    local host node_line tmp
    host=$(hostname -s)
    # The node exactly as slurmd sees it: CPUs, sockets, cores, threads, RealMemory (MB).
    node_line=$(slurmd -C | head -n1 | sed -e 's/^NodeName=[^ ]* //')
    [[ $node_line == *CPUs=* && $node_line == *RealMemory=* ]] ||
        die "slurmd -C gave no node description: $(slurmd -C 2>&1 | head -3)"
    mkdir -p "$STATE/etc"
    tmp=$(mktemp "$STATE/etc/slurm.conf.XXXX")
    cat >"$tmp" <<EOF
# Generated by hpc/local_slurm.sh -- a single-node test cluster; do not edit, rerun start.
ClusterName=homeworkflow
# 127.0.0.1 so that nothing depends on the hostname resolving.
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No systemd, no cgroups needed.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
# Without cgroups, memory limits (--mem) are enforced by polling: a step above its limit is killed.
JobAcctGatherParams=OverMemoryKill
# No accounting database: sacct/sacctmgr do not work; squeue keeps finished jobs MinJobAge s.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Jobs that ask for no memory get this much per CPU instead of the whole node.
DefMemPerCPU=1000
ReturnToService=2
SlurmctldTimeout=60
SlurmdTimeout=120
InactiveLimit=0
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host $node_line State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    if [[ -f $CONF ]] && cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
    else
        mv "$tmp" "$CONF"
    fi
    chmod 0644 "$CONF"
}

link_etc() {
    # Needed, not a convenience: inside a job, Snakemake's slurm-jobstep executor runs the rule
    # with `srun` after deleting every SLURM_* variable but the job id (SLURM_CONF included), so
    # srun reads the default /etc/slurm/slurm.conf.
    if [[ -L $ETC_LINK && $(readlink "$ETC_LINK") == "$CONF" ]]; then
        return 0
    fi
    if [[ -e $ETC_LINK || -L $ETC_LINK ]]; then
        local msg="$ETC_LINK exists and is not this cluster's; srun inside Snakemake jobs would use it"
        [[ ${SLURM_LOCAL_NO_ETC_LINK:-0} == 1 ]] && { say "warning: $msg"; return 0; }
        die "$msg. Move it away, or set SLURM_LOCAL_NO_ETC_LINK=1 to start anyway."
    fi
    [[ ${SLURM_LOCAL_NO_ETC_LINK:-0} == 1 ]] && return 0
    mkdir -p "$(dirname "$ETC_LINK")"
    ln -s "$CONF" "$ETC_LINK"
}

unlink_etc() {
    if [[ -L $ETC_LINK && $(readlink "$ETC_LINK") == "$CONF" ]]; then
        rm -f "$ETC_LINK"
    fi
}

# --- daemons ---------------------------------------------------------------------------------
start_munged() {
    pid_alive "$STATE/munge/munged.pid" munged && return 0
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    munged --key-file="$STATE/munge/private/munge.key" \
        --socket="$MUNGE_SOCKET" \
        --pid-file="$STATE/munge/munged.pid" \
        --log-file="$LOG/munged.log" \
        --seed-file="$STATE/munge/private/munged.seed" ||
        die "munged did not start, see $LOG/munged.log"
    munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET" >/dev/null ||
        die "munge round trip failed, see $LOG/munged.log"
}

start_slurmctld() {
    pid_alive "$STATE/run/slurmctld.pid" slurmctld && return 0
    # A fresh controller: clear job state left over from an earlier run (-c).
    slurmctld -c -f "$CONF" || die "slurmctld did not start, see $LOG/slurmctld.log"
}

start_slurmd() {
    pid_alive "$STATE/run/slurmd.pid" slurmd && return 0
    slurmd -f "$CONF" || die "slurmd did not start, see $LOG/slurmd.log"
}

node_state() {
    sinfo -h -N -o '%t' 2>/dev/null | head -n1 || true
}

wait_idle() {
    local t0=$SECONDS state=""
    while (( SECONDS - t0 < START_TIMEOUT )); do
        state=$(node_state)
        case $state in
            idle|mix|alloc) return 0 ;;
            down*|drain*|drng*|fail*)
                # ReturnToService=2 normally revives it; nudge once in a while.
                scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    say "node did not become idle within ${START_TIMEOUT}s (state: '${state:-none}')"
    tail -n 20 "$LOG/slurmctld.log" "$LOG/slurmd.log" >&2 || true
    return 1
}

cmd_start() {
    need_root
    local t0=$SECONDS
    install_packages
    mkdir -p "$STATE" "$LOG" "$STATE/ctld" "$STATE/spool" "$STATE/run" "$STATE/etc"
    chmod 0755 "$STATE" "$LOG"
    write_munge_key
    write_conf
    link_etc
    start_munged
    start_slurmctld
    start_slurmd
    wait_idle || die "cluster did not come up; logs: $LOG"
    say "cluster up in $((SECONDS - t0)) s: node $(hostname -s), partition main"
    say "controller log: $LOG/slurmctld.log"
    say "clients need: export SLURM_CONF=$CONF"
    echo "$LOG/slurmctld.log"
}

cmd_stop() {
    local keep_logs=0
    [[ ${1:-} == --keep-logs ]] && keep_logs=1
    if pid_alive "$STATE/run/slurmctld.pid" slurmctld; then
        scancel --full --quiet --user=root >/dev/null 2>&1 || true
        scancel --quiet --state=PENDING >/dev/null 2>&1 || true
        local _
        for _ in $(seq 30); do
            [[ -z $(squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null) ]] && break
            sleep 0.5
        done
    fi
    stop_pid "$STATE/run/slurmd.pid" slurmd
    stop_pid "$STATE/run/slurmctld.pid" slurmctld
    stop_pid "$STATE/munge/munged.pid" munged
    unlink_etc
    if [[ -d $STATE ]]; then
        if [[ $keep_logs -eq 1 ]]; then
            find "$STATE" -mindepth 1 -maxdepth 1 ! -name log -exec rm -rf {} +
            say "stopped; logs kept in $LOG"
        else
            rm -rf "$STATE"
            say "stopped; removed $STATE"
        fi
    else
        say "not running"
    fi
}

cmd_status() {
    local d f rc=0
    for d in "munged:$STATE/munge/munged.pid" "slurmctld:$STATE/run/slurmctld.pid" \
        "slurmd:$STATE/run/slurmd.pid"; do
        f=${d#*:}
        if pid_alive "$f" "${d%%:*}"; then
            echo "${d%%:*}: running (pid $(<"$f"))"
        else
            echo "${d%%:*}: not running"; rc=1
        fi
    done
    echo "state dir: $STATE"
    echo "controller log: $LOG/slurmctld.log"
    echo "export SLURM_CONF=$CONF"
    if [[ $rc -eq 0 ]]; then
        sinfo -N -l || rc=1
        squeue -t all || rc=1
    fi
    return $rc
}

case ${1:-} in
    start) cmd_start ;;
    stop) shift; cmd_stop "$@" ;;
    status) cmd_status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 start|stop [--keep-logs]|status|env" >&2; exit 2 ;;
esac
