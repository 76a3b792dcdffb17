#!/usr/bin/env bash
# Stops the Slurm test cluster that scripts/start-slurm.sh brought up, gracefully: SIGTERM to
# each daemon, then waits for it to exit. Never SIGKILL: slurmctld saves its state on SIGTERM,
# and a killed slurmctld loses recent jobs and hands their ids out again.
#
#   scripts/stop-slurm.sh                 sshd (the one on 127.0.0.1:2222), slurmd, slurmctld,
#                                         slurmdbd, munged, and MariaDB only when start-slurm.sh
#                                         started it (a MariaDB that was already running stays up)
#   scripts/stop-slurm.sh NAME...         only these, in the order given; NAME is one of
#                                         sshd slurmd slurmctld slurmdbd munged mariadb
#
# Running jobs survive a stop of slurmd/slurmctld (their slurmstepd goes on); pending and held
# jobs are kept in slurmctld's saved state. Exits 1 when a daemon does not exit in time.
set -Eeuo pipefail

readonly RUN_DIR=/run/drover-test-cluster
T0=${EPOCHREALTIME/./}
elapsed() {
  local us=$(( ${EPOCHREALTIME/./} - T0 ))
  printf '%d.%03d' $((us / 1000000)) $((us / 1000 % 1000))
}
log() { printf '[stop-slurm %ss] %s\n' "$(elapsed)" "$*"; }
trap 'printf "stop-slurm: FAILED (line %s): %s\n" "$LINENO" "$BASH_COMMAND" >&2; exit 1' ERR

if (( EUID != 0 )); then
  if command -v sudo >/dev/null 2>&1; then exec sudo -- "$0" "$@"; fi
  echo "stop-slurm: must run as root" >&2
  exit 1
fi

alive() { # pid comm: true when the process runs under that name and is not a zombie
  local c stat
  read -r c 2>/dev/null <"/proc/$1/comm" && [[ $c == "$2" ]] || return 1
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# pids of a daemon: the one in its pidfile, and with by-name every process of that exact name.
find_pids() { # pidfile comm by-name|pidfile-only
  local pidfile=$1 comm=$2 pid
  PIDS=()
  if [[ -r $pidfile ]] && read -r pid 2>/dev/null <"$pidfile" && [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" "$comm"; then
    PIDS+=("$pid")
  fi
  if [[ $3 == by-name ]]; then
    for pid in $(pgrep -x "$comm" || true); do
      if alive "$pid" "$comm" && [[ " ${PIDS[*]} " != *" $pid "* ]]; then PIDS+=("$pid"); fi
    done
  fi
}

failed=0
stop() { # name pidfile comm by-name|pidfile-only timeout-seconds
  local name=$1 pidfile=$2 comm=$3 how=$4 limit=$5 pid left deadline
  find_pids "$pidfile" "$comm" "$how"
  if (( ${#PIDS[@]} == 0 )); then
    log "$name is not running"
    [[ $pidfile == /run/* ]] && rm -f "$pidfile" # stale pidfile
    return 0
  fi
  kill -TERM "${PIDS[@]}" 2>/dev/null || true
  deadline=$(( ${EPOCHREALTIME/./} + limit * 1000000 ))
  while :; do
    left=()
    for pid in "${PIDS[@]}"; do alive "$pid" "$comm" && left+=("$pid"); done
    (( ${#left[@]} == 0 )) && break
    if (( ${EPOCHREALTIME/./} > deadline )); then
      echo "stop-slurm: $name (pid ${left[*]}) still runs ${limit} s after SIGTERM; not killing it" >&2
      failed=1
      return 0
    fi
    sleep 0.1
  done
  rm -f "$pidfile"
  log "stopped $name (pid ${PIDS[*]})"
}

stop_one() {
  case $1 in
    sshd) stop sshd /run/sshd_drover_test.pid sshd pidfile-only 10 ;; # never the system's sshd
    slurmd) stop slurmd /run/slurm/slurmd.pid slurmd by-name 30 ;;
    slurmctld) stop slurmctld /run/slurm/slurmctld.pid slurmctld by-name 120 ;;
    slurmdbd) stop slurmdbd /run/slurm/slurmdbd.pid slurmdbd by-name 60 ;;
    munged) stop munged /run/munge/munged.pid munged by-name 10 ;;
    mariadb)
      stop mariadb /run/mysqld/mysqld.pid mariadbd by-name 120
      rm -f "$RUN_DIR/mariadb-started-here"
      ;;
    *)
      echo "stop-slurm: unknown daemon '$1' (sshd slurmd slurmctld slurmdbd munged mariadb)" >&2
      exit 2
      ;;
  esac
}

if (( $# )); then
  for d in "$@"; do stop_one "$d"; done
else
  for d in sshd slurmd slurmctld slurmdbd munged; do stop_one "$d"; done
  ours=
  if [[ -r $RUN_DIR/mariadb-started-here ]]; then read -r ours <"$RUN_DIR/mariadb-started-here" || true; fi
  if [[ $ours =~ ^[0-9]+$ ]] && alive "$ours" mariadbd; then
    stop_one mariadb
  else
    rm -f "$RUN_DIR/mariadb-started-here"
    log "MariaDB was not started by start-slurm.sh: left running"
  fi
  rm -f "$RUN_DIR/cluster-registered"
fi

if (( failed )); then
  log "some daemons did not stop"
  exit 1
fi
log "done in $(elapsed) s"
