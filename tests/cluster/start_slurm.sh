#!/usr/bin/env bash
# Start a real single-node SLURM cluster (munged, slurmctld, slurmd) on this machine.
#
# Usage (as root):  bash tests/cluster/start_slurm.sh [--stop]
#
# Idempotent: when munge answers and the node is already up, it changes nothing and exits 0.
# Otherwise it installs Debian's slurm-wlm + munge if missing, prepares munge, writes
# /etc/slurm/slurm.conf for this host, starts the daemons and waits for the node to be idle.
# It needs no systemd: daemons are started directly and tracked through their pid files.
# --stop ends the daemons this script starts (by pid file) and leaves packages and config alone.
#
# Environment:
#   NEUROKINE_SLURM_TIMEOUT   seconds to wait for the node to become idle (default 60)
#   NEUROKINE_SLURM_MEM_PCT   percent of available memory given to the node (default 80)
set -euo pipefail

readonly TIMEOUT="${NEUROKINE_SLURM_TIMEOUT:-60}"
readonly MEM_PCT="${NEUROKINE_SLURM_MEM_PCT:-80}"
readonly CONF=/etc/slurm/slurm.conf
readonly LOGDIR=/var/log/slurm
readonly CTLD_PID=/run/slurmctld.pid
readonly SLURMD_PID=/run/slurmd.pid
readonly MUNGE_PID=/run/munge/munged.pid
readonly MUNGE_KEY=/etc/munge/munge.key
# The name slurmd registers under is the short host name; slurmctld refuses to start when
# SlurmctldHost does not match it, so both come from the same call.
HOST="$(hostname -s)"
readonly HOST

log() { printf 'start_slurm: %s\n' "$*" >&2; }

tail_logs() {
    local f
    for f in "$LOGDIR/slurmctld.log" "$LOGDIR/slurmd.log" /var/log/munge/munged.log; do
        if [[ -f "$f" ]]; then
            printf '\n----- last lines of %s -----\n' "$f" >&2
            tail -n 25 "$f" >&2 || true
        fi
    done
    if command -v sinfo >/dev/null 2>&1; then
        printf '\n----- sinfo -N -l -----\n' >&2
        sinfo -N -l >&2 2>&1 || true
        printf '\n----- scontrol show node %s -----\n' "$HOST" >&2
        scontrol show node "$HOST" >&2 2>&1 || true
    fi
}

die() {
    log "ERROR: $*"
    tail_logs
    exit 1
}

# True when the process named in pid file $1 is alive and is the daemon the file belongs to.
# A killed daemon can linger as a zombie until PID 1 reaps it (kill -0 still succeeds on it),
# and a stale pid can be reused by an unrelated process: both count as not running.
pid_alive() {
    local pid state comm
    [[ -s "$1" ]] || return 1
    pid="$(cat "$1" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
    [[ "$comm" == "$(basename "$1" .pid)" ]]
}

munge_ok() {
    command -v munge >/dev/null 2>&1 && munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

# Node state as sinfo prints it (e.g. "idle", "mixed", "down*"); empty when unknown.
node_state() {
    command -v sinfo >/dev/null 2>&1 || return 0
    timeout 10 sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n 1 || true
}

# A node that is running jobs (mixed/allocated/completing) is up as well: re-running this
# script during a test run must not fail or disturb those jobs. A state suffix such as "*"
# (not responding) or "~" (powered down) means it is not usable.
node_ready() {
    case "$(node_state)" in
        idle | mixed | allocated | completing) return 0 ;;
        *) return 1 ;;
    esac
}

stop_daemons() {
    local f pid
    for f in "$SLURMD_PID" "$CTLD_PID" "$MUNGE_PID"; do
        if pid_alive "$f"; then
            pid="$(cat "$f")"
            log "stopping pid $pid ($f)"
            kill "$pid"
            for _ in $(seq 50); do pid_alive "$f" || break; sleep 0.1; done
        fi
    done
}

install_packages() {
    local missing=0 cmd
    for cmd in slurmctld slurmd sbatch sinfo munged munge; do
        command -v "$cmd" >/dev/null 2>&1 || missing=1
    done
    ((missing)) || return 0
    log "installing slurm-wlm and munge from Debian"
    export DEBIAN_FRONTEND=noninteractive
    local apt_opts=(-y -q -o Dpkg::Use-Pty=0 --no-install-recommends)
    # Try with the package lists already on the machine first (saves the update on a warm
    # image); stale or absent lists make the install fail, and then one update fixes it.
    if ! apt-get install "${apt_opts[@]}" slurm-wlm munge >/tmp/start_slurm.apt.log 2>&1; then
        log "install with current package lists failed; running apt-get update"
        apt-get update -q >>/tmp/start_slurm.apt.log 2>&1 ||
            { tail -n 20 /tmp/start_slurm.apt.log >&2; die "apt-get update failed"; }
        apt-get install "${apt_opts[@]}" slurm-wlm munge >>/tmp/start_slurm.apt.log 2>&1 ||
            { tail -n 20 /tmp/start_slurm.apt.log >&2; die "apt-get install slurm-wlm munge failed"; }
    fi
    for cmd in slurmctld slurmd sbatch sinfo munged munge; do
        command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after installing packages"
    done
}

start_munge() {
    id munge >/dev/null 2>&1 || die "user 'munge' does not exist (the munge package creates it)"
    install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge /var/lib/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [[ ! -s "$MUNGE_KEY" ]]; then
        log "creating $MUNGE_KEY"
        # Written under a restrictive umask so the key is never readable by others.
        (umask 077 && head -c 1024 /dev/urandom >"$MUNGE_KEY")
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
    # Ask munge only when its daemon is alive: against a dead daemon's socket the munge
    # client retries for about 5 s before it gives up.
    if pid_alive "$MUNGE_PID"; then
        munge_ok && return 0
        die "munged (pid $(cat "$MUNGE_PID")) runs but 'munge -n | unmunge' fails"
    fi
    # A socket left by a killed munged blocks a new one; no live daemon owns it.
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged || die "munged failed to start"
    for _ in $(seq 50); do munge_ok && return 0; sleep 0.1; done
    die "munge -n | unmunge fails although munged was started"
}

write_config() {
    local cpus avail_kb real_mb tmp
    cpus="$(nproc)"
    avail_kb="$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)"
    # Share of the memory that is free for use now (MemAvailable counts reclaimable cache,
    # unlike the "free" column), rounded down to 256 MB so small fluctuations between runs
    # give the same file.
    real_mb=$((avail_kb * MEM_PCT / 100 / 1024 / 256 * 256))
    ((real_mb >= 512)) || die "only ${real_mb} MB of memory would be given to SLURM"
    mkdir -p /etc/slurm "$LOGDIR" /var/spool/slurmctld /var/spool/slurmd
    tmp="$(mktemp /etc/slurm/slurm.conf.XXXXXX)"
    cat >"$tmp" <<EOF
# Written by neurokine tests/cluster/start_slurm.sh for a single-node test cluster.
ClusterName=neurokine
# Loopback only: the cluster serves this machine and nothing else.
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
# No mail is sent from a test node; an unset MailProg only logs an error at every start.
MailProg=/bin/true
# No cgroups: linuxproc tracks processes by parentage, task/none binds nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# The node has the CPUs and memory written below even if the hardware topology that slurmd
# detects is laid out differently (e.g. sockets vs cores on a VM); without this the node drains.
SlurmdParameters=config_overrides
# No accounting database: sacct does not work, and status checks use squeue.
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue/scontrol for an hour (squeue-based status checks).
MinJobAge=3600
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
SlurmctldLogFile=${LOGDIR}/slurmctld.log
SlurmdLogFile=${LOGDIR}/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# A job that asks for no memory gets this much per CPU instead of the whole node.
DefMemPerCPU=1024
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${real_mb} State=UNKNOWN
PartitionName=local Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
EOF
    chmod 0644 "$tmp"
    if [[ -f "$CONF" ]] && cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
    else
        mv -f "$tmp" "$CONF"
        log "wrote $CONF (CPUs=${cpus}, RealMemory=${real_mb} MB)"
    fi
}

# Epoch seconds at which this run started slurmd; 0 when it was already running.
SLURMD_STARTED_AT=0

# Seconds since the epoch at which the running slurmd registered with slurmctld (0 if unknown).
slurmd_registered_at() {
    local t
    t="$(timeout 10 scontrol -o show node "$HOST" 2>/dev/null |
        grep -o 'SlurmdStartTime=[^ ]*' | cut -d= -f2)" || true
    [[ -n "$t" && "$t" != "None" ]] && date -d "$t" +%s 2>/dev/null || echo 0
}

start_slurm() {
    if ! pid_alive "$CTLD_PID"; then
        log "starting slurmctld"
        slurmctld || die "slurmctld failed to start"
    fi
    for _ in $(seq 100); do timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.1; done
    if ! pid_alive "$SLURMD_PID"; then
        log "starting slurmd"
        SLURMD_STARTED_AT="$(date +%s)"
        slurmd || die "slurmd failed to start"
    fi
}

wait_idle() {
    local deadline state resumed=0
    deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        # slurmctld restores the node's last state from its state files, so right after a
        # restart "idle" can be stale; a slurmd started here counts only once it registered.
        if node_ready && (($(slurmd_registered_at) >= SLURMD_STARTED_AT)); then
            return 0
        fi
        state="$(node_state)"
        # A node left drained/down by an earlier run (e.g. killed daemons) is not returned
        # automatically once it has a reason set; one resume is enough when slurmd is alive.
        if ((!resumed)) && [[ "$state" =~ ^(drained|draining|down)$ ]] && pid_alive "$SLURMD_PID"; then
            log "node is $state; resuming it"
            scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
            resumed=1
        fi
        sleep 0.2
    done
    die "node $HOST not idle after ${TIMEOUT}s (last state: '$(node_state)')"
}

main() {
    [[ "$(id -u)" -eq 0 ]] || { log "ERROR: must run as root"; exit 1; }
    if [[ "${1:-}" == "--stop" ]]; then
        stop_daemons
        exit 0
    fi
    [[ $# -eq 0 ]] || { log "ERROR: unknown argument '$1' (usage: $0 [--stop])"; exit 2; }

    # Fast path: an already running cluster is left exactly as it is.
    if pid_alive "$MUNGE_PID" && pid_alive "$CTLD_PID" && pid_alive "$SLURMD_PID" &&
        munge_ok && node_ready; then
        log "cluster already up: node $HOST is $(node_state)"
        exit 0
    fi

    install_packages
    start_munge
    # Regenerating the config under a running daemon would change the node's memory behind
    # its back; only rewrite it when no slurm daemon is running.
    if ! pid_alive "$CTLD_PID" && ! pid_alive "$SLURMD_PID"; then
        write_config
    elif [[ ! -f "$CONF" ]]; then
        die "a slurm daemon is running but $CONF is missing; run '$0 --stop' first"
    fi
    start_slurm
    wait_idle
    log "cluster up: node $HOST is $(node_state) ($(sinfo -h -N -n "$HOST" -o '%c CPUs, %m MB'))"
}

main "$@"
