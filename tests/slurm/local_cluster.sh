#!/usr/bin/env bash
# local_cluster.sh - a real one-node Slurm cluster (munge, slurmctld, slurmd
# from Debian's packages) under one directory, for the duration of a command.
#
#   tests/slurm/local_cluster.sh DIR|auto COMMAND [ARGS...]
#
# Creates DIR (it must not exist or be empty; `auto`: a new directory under
# ${TMPDIR:-/tmp}, removed afterwards unless COMMAND failed), writes a munge
# key, a slurm.conf and the daemons' state/spool/log files under it, starts
# munged, slurmctld and slurmd as background jobs in the foreground mode of
# each (no systemd, no /etc edits, free TCP ports picked at start), waits
# until the node is idle, runs COMMAND with SLURM_CONF exported (sbatch,
# squeue, srun ... then use this cluster), and on exit (normal, error, signal
# or NNFI_CLUSTER_TIMEOUT seconds, default 900) cancels the jobs left and stops
# each daemon it started by its own pid. Exits with COMMAND's status; 77 (the
# tests' skip status) when Slurm or munge cannot run here: a tool missing, or
# not root; 1 with the daemons' logs when the cluster does not come up.
#
# Needs root (SlurmUser=root, as on CI machines and containers) and the
# packages slurm-wlm, slurm-client, munge (scripts/install-deps). Interactive
# use: tests/slurm/local_cluster.sh /tmp/cluster bash
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 DIR COMMAND [ARGS...]" >&2
  exit 2
fi

cannot_run() {
  echo "local_cluster: SKIP: $*" >&2
  exit 77
}
export PATH=$PATH:/usr/sbin:/sbin
for tool in mungekey munged slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
  command -v "$tool" >/dev/null 2>&1 ||
    cannot_run "'$tool' not found; hint: scripts/install-deps installs slurm-wlm, slurm-client and munge"
done
if [[ $(id -u) -ne 0 ]]; then
  cannot_run "must run as root (the test cluster runs its daemons and jobs as root); hint: run ctest as root, as CI does"
fi

dir=$1
shift
auto=0
if [[ $dir == auto ]]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/nnfi-slurm.XXXXXX")
  auto=1
elif [[ -e $dir && -n $(ls -A "$dir" 2>/dev/null) ]]; then
  echo "local_cluster: $dir is not empty" >&2
  echo "  hint: give a new directory (it holds the cluster's state and logs)" >&2
  exit 2
fi

fail() {
  echo "local_cluster: FAIL: $*" >&2
  for log in "$dir"/munge/munged.log "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
    if [[ -s $log ]]; then
      echo "---- last lines of $log" >&2
      tail -n 25 "$log" >&2
    fi
  done
  exit 1
}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" "$dir/run"
chmod 700 "$dir/munge"
chmod 755 "$dir" "$dir/run" # munged checks its socket directory

pids=()
rc=1
# shellcheck disable=SC2317 # called by the EXIT trap
stop_all() {
  local i pid
  if [[ ${#pids[@]} -ge 3 ]]; then # slurmctld is up: cancel what is left, give it a moment to end
    scancel --quiet --full --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 50); do
      [[ -z $(squeue -h 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do # slurmd, slurmctld, then munged
    pid=${pids[i]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
  if [[ $auto == 1 ]]; then
    if [[ $rc -eq 0 ]]; then rm -rf "$dir"; else echo "local_cluster: logs kept in $dir" >&2; fi
  fi
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- munge: its own key and socket
mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 || fail "mungekey could not create a key"
chmod 600 "$dir/munge/munge.key"
socket=$dir/run/munge.sock
munged --foreground --force --key-file="$dir/munge/munge.key" --socket="$socket" \
  --pid-file="$dir/run/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/munged.seed" >"$dir/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  [[ -S $socket ]] && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "munged exited at start ($(tail -n 3 "$dir/log/munged.out" | tr '\n' ' '))"
  sleep 0.1
done
[[ -S $socket ]] || fail "munged did not create its socket $socket within 10 s"
if command -v munge >/dev/null 2>&1 && command -v unmunge >/dev/null 2>&1; then
  munge --socket="$socket" -n | unmunge --socket="$socket" >/dev/null 2>&1 ||
    fail "munge credentials do not round-trip through $socket"
fi

# ---- two free TCP ports
read -r ctld_port slurmd_port < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

host=$(hostname -s)
cpus=$(nproc)
if [[ $cpus -lt 2 ]]; then cpus=2; fi # the tests run 2-task jobs; config_overrides lets the node claim 2
cat >"$dir/slurm.conf" <<EOF
# written by tests/slurm/local_cluster.sh: a throw-away one-node cluster
ClusterName=nnfitest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
MailProg=/bin/true
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
SchedulerType=sched/builtin
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
KillWait=10
MinJobAge=300
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
export SLURM_CONF=$dir/slurm.conf

slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$host" -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
pids+=($!)

state=
for _ in $(seq 300); do
  kill -0 "${pids[1]}" 2>/dev/null || fail "slurmctld exited at start ($(tail -n 3 "$dir/log/slurmctld.out" | tr '\n' ' '))"
  kill -0 "${pids[2]}" 2>/dev/null || fail "slurmd exited at start ($(tail -n 3 "$dir/log/slurmd.out" | tr '\n' ' '))"
  state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
  [[ $state == idle ]] && break
  sleep 0.1
done
[[ $state == idle ]] || fail "the node is '${state:-not reported}' after 30 s, not idle"
echo "local_cluster: munged, slurmctld, slurmd up (pids ${pids[*]}), node $host idle, SLURM_CONF=$SLURM_CONF"

set +e
timeout --kill-after=10 "${NNFI_CLUSTER_TIMEOUT:-900}" "$@"
rc=$?
set -e
if [[ $rc -eq 124 ]]; then echo "local_cluster: FAIL: '$*' ran out of NNFI_CLUSTER_TIMEOUT=${NNFI_CLUSTER_TIMEOUT:-900} s" >&2; fi
exit "$rc"
