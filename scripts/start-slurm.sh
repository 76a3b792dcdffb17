#!/usr/bin/env bash
# Brings up a single-node Slurm test cluster for Drover's slurm test tier, idempotently, on
# Debian 12 (root, no systemd needed: every daemon is started by hand here).
#
#  - installs what is missing: slurm-wlm, slurm-wlm-torque (qsub/qstat/qdel), slurmdbd,
#    mariadb-server, munge, openssh-server;
#  - cluster user `hpcuser` (home /home/hpcuser, scratch /home/hpcuser/scratch), and the demo
#    programs of apps/ installed as the cluster's software in /opt/drover-demo-apps;
#  - pass-through sbatch/qsub shims in /opt/drover-test-cluster/submit-delay that a test's
#    private sshd puts first on PATH to make a submit slow (nothing else uses them);
#  - Drover's SSH key pair /var/lib/drover-test-cluster/id_ed25519(.pub) (root only), its public
#    key in hpcuser's authorized_keys, and /var/lib/drover-test-cluster/known_hosts for
#    [127.0.0.1]:2222;
#  - /etc/slurm/slurm.conf (cluster drover-test, one node = this host with CPUs=8, partitions
#    debug (default, MaxTime=10), long (MaxTime=60) and limited (QOS drover-limited: one
#    queued or running job per user), QOS limits enforced), /etc/slurm/slurmdbd.conf, a
#    slurm_acct_db database and a slurm user in MariaDB (reusing a MariaDB already running),
#    and in slurmdbd the cluster, that QOS and an account `drover` holding hpcuser and root;
#  - starts, in this order and each only if not already running: munged, MariaDB, slurmdbd,
#    slurmctld (waits for `scontrol ping`), slurmd (waits for the node to be usable), and a
#    dedicated sshd on 127.0.0.1:2222 only (/etc/ssh/sshd_drover_test.conf, key auth, hpcuser only).
#
# Drover then reaches the cluster with:
#   ssh -i /var/lib/drover-test-cluster/id_ed25519 \
#       -o UserKnownHostsFile=/var/lib/drover-test-cluster/known_hosts -o StrictHostKeyChecking=yes \
#       -p 2222 hpcuser@127.0.0.1 sbatch ...
#
# A re-run when everything is up changes nothing and takes a fraction of a second. When
# slurm.conf / slurmdbd.conf changed, the daemons that read them are restarted gracefully
# (SIGTERM); the sshd config is reloaded with SIGHUP. scripts/stop-slurm.sh stops it all.
# For development and CI machines only: MariaDB's root is expected to need no password.
set -Eeuo pipefail

readonly STATE_DIR=/var/lib/drover-test-cluster
readonly KEY=$STATE_DIR/id_ed25519
readonly KNOWN_HOSTS=$STATE_DIR/known_hosts
readonly RUN_DIR=/run/drover-test-cluster
readonly CLUSTER_USER=hpcuser
readonly CLUSTER_HOME=/home/hpcuser
readonly APPS_DIR=/opt/drover-demo-apps
readonly SHIM_DIR=/opt/drover-test-cluster/submit-delay
readonly SSH_ADDR=127.0.0.1
readonly SSH_PORT=2222
readonly SSHD_CONF=/etc/ssh/sshd_drover_test.conf
readonly SSHD_PID=/run/sshd_drover_test.pid
readonly SSHD_LOG=/var/log/sshd_drover_test.log
readonly SLURM_CONF=/etc/slurm/slurm.conf
readonly SLURMDBD_CONF=/etc/slurm/slurmdbd.conf
readonly SLURM_RUN=/run/slurm
readonly SLURM_LOG=/var/log/slurm
readonly MUNGE_PID=/run/munge/munged.pid
readonly MARIADB_PID=/run/mysqld/mysqld.pid
readonly CLUSTER_NAME=drover-test
readonly DB_NAME=slurm_acct_db
readonly PACKAGES=(slurm-wlm slurm-wlm-torque slurmdbd mariadb-server munge openssh-server)
readonly SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

T0=${EPOCHREALTIME/./}
STEP=starting
DID=()

elapsed() { # prints seconds since start, e.g. 1.234
  local us=$(( ${EPOCHREALTIME/./} - T0 ))
  printf '%d.%03d' $((us / 1000000)) $((us / 1000 % 1000))
}
log() { printf '[start-slurm %ss] %s\n' "$(elapsed)" "$*"; }
die() {
  printf 'start-slurm: FAILED at step "%s" after %ss: %s\n' "$STEP" "$(elapsed)" "$*" >&2
  exit 1
}
trap 'die "command failed (line $LINENO, exit $?): $BASH_COMMAND"' ERR
did() { DID+=("$*"); log "$*"; }

show_log_tail() { # file: last lines of a daemon's log, on stderr
  if [[ -s $1 ]]; then
    echo "--- last lines of $1 ---" >&2
    tail -n 15 "$1" >&2 || true
    echo "---" >&2
  fi
}

# Sets PID to the pid of a running daemon: the pid in its pidfile when /proc/PID/comm is the
# expected name (pidfiles outlive their daemons, /run is not a tmpfs here), else, when a name to
# search is given, the oldest process of that exact name.
# A zombie (a daemon that exited but was not reaped by PID 1) counts as not running.
PID=
alive() { # pid comm
  local c stat
  read -r c 2>/dev/null <"/proc/$1/comm" && [[ $c == "$2" ]] || return 1
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}
running() { # pidfile comm [by-name]
  local pidfile=$1 comm=$2 pid
  PID=
  if [[ -r $pidfile ]] && read -r pid 2>/dev/null <"$pidfile" && [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" "$comm"; then
    PID=$pid
    return 0
  fi
  if [[ ${3:-} == by-name ]]; then
    for pid in $(pgrep -x "$comm" || true); do
      if alive "$pid" "$comm"; then PID=$pid; return 0; fi
    done
  fi
  return 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$(( ${EPOCHREALTIME/./} + limit * 1000000 ))
  until "$@" >/dev/null 2>&1; do
    if (( ${EPOCHREALTIME/./} > deadline )); then return 1; fi
    sleep 0.1
  done
}

# launch NAME COMMAND...: runs a daemon's start command with stdin /dev/null, stdout and stderr
# to $RUN_DIR/NAME.start.log, and every other descriptor closed. munged, slurmdbd, mysqld_safe
# and mariadbd keep whatever they inherit: the lock on fd 9 would outlive this script, and a
# caller reading this script's output through a pipe would never see EOF.
launch() {
  local name=$1
  shift
  (
    exec </dev/null >"$RUN_DIR/$name.start.log" 2>&1
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if (( fd > 2 )); then { eval "exec $fd>&-"; } 2>/dev/null || true; fi
    done
    exec "$@"
  )
}
start_failed() { # name daemon-log message
  show_log_tail "$RUN_DIR/$1.start.log"
  [[ -n $2 ]] && show_log_tail "$2"
  die "$3"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# write_file PATH MODE OWNER CONTENT: writes only when the content differs; returns 0 when it
# wrote, 1 when the file was already up to date (mode and owner are fixed either way).
write_file() {
  local path=$1 mode=$2 owner=$3 content=$4 tmp
  if [[ -f $path ]] && [[ "$(<"$path")" == "$content" ]]; then
    if [[ $(stat -c '%a %U:%G' "$path") != "${mode#0} $owner" ]]; then
      chmod "$mode" "$path"
      chown "$owner" "$path"
    fi
    return 1
  fi
  tmp=$(mktemp "$path.XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  mv -f "$tmp" "$path"
  return 0
}

if (( EUID != 0 )); then
  if command -v sudo >/dev/null 2>&1; then exec sudo -- "$0" "$@"; fi
  die "must run as root"
fi

# One run at a time (tests may call this script concurrently).
mkdir -p "$RUN_DIR"
exec 9>"$RUN_DIR/start.lock"
flock -w 900 9 || die "another start-slurm.sh still holds $RUN_DIR/start.lock after 900 s"

# ---------------------------------------------------------------------------------------------
STEP="install packages"
missing=()
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
for p in "${PACKAGES[@]}"; do
  grep -qx "$p ii *" <<<"$installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  updated=
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    if apt-get -q -o DPkg::Lock::Timeout=600 update >/tmp/drover-start-slurm-apt.log 2>&1; then
      updated=1
      break
    fi
    sleep 5 # another apt-get holds the lists lock
  done
  [[ -n $updated ]] || { cat /tmp/drover-start-slurm-apt.log >&2; die "apt-get update failed"; }
  apt-get -q -y -o DPkg::Lock::Timeout=600 --no-install-recommends install "${missing[@]}" \
    >>/tmp/drover-start-slurm-apt.log 2>&1 ||
    { tail -n 30 /tmp/drover-start-slurm-apt.log >&2; die "apt-get install ${missing[*]} failed"; }
  did "installed ${missing[*]}"
fi
for b in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/slurmdbd /usr/sbin/munged /usr/sbin/sshd \
  /usr/bin/sbatch /usr/bin/qsub /usr/bin/mysql; do
  [[ -x $b ]] || die "$b is missing although the packages are installed"
done
getent passwd slurm >/dev/null || die "user slurm does not exist (the slurm packages create it)"
getent passwd munge >/dev/null || die "user munge does not exist (the munge package creates it)"

# ---------------------------------------------------------------------------------------------
STEP="cluster user and SSH key"
if ! getent passwd "$CLUSTER_USER" >/dev/null; then
  useradd --create-home --home-dir "$CLUSTER_HOME" --shell /bin/bash --user-group "$CLUSTER_USER"
  # '*' instead of useradd's locked '!': sshd (UsePAM no) refuses even key logins for locked accounts.
  usermod -p '*' "$CLUSTER_USER"
  did "created user $CLUSTER_USER"
elif [[ $(getent shadow "$CLUSTER_USER" | cut -d: -f2) == '!'* ]]; then
  usermod -p '*' "$CLUSTER_USER"
  did "unlocked $CLUSTER_USER for key logins"
fi
if [[ ! -d $CLUSTER_HOME/scratch || ! -d $CLUSTER_HOME/.ssh ]]; then
  install -d -o "$CLUSTER_USER" -g "$CLUSTER_USER" -m 0755 "$CLUSTER_HOME/scratch"
  install -d -o "$CLUSTER_USER" -g "$CLUSTER_USER" -m 0700 "$CLUSTER_HOME/.ssh"
fi
if [[ ! -d $STATE_DIR ]]; then install -d -m 0755 "$STATE_DIR"; fi
if [[ ! -s $KEY ]]; then
  rm -f "$KEY" "$KEY.pub"
  ssh-keygen -q -t ed25519 -N '' -C "drover@drover-test-cluster" -f "$KEY"
  did "generated Drover's key $KEY"
fi
if [[ ! -s $KEY.pub ]]; then ssh-keygen -y -f "$KEY" >"$KEY.pub"; fi
[[ $(stat -c '%a %U' "$KEY") == "600 root" ]] || { chown root:root "$KEY"; chmod 600 "$KEY"; }
pubkey=$(<"$KEY.pub")
auth=$CLUSTER_HOME/.ssh/authorized_keys
if ! grep -qxF "$pubkey" "$auth" 2>/dev/null; then
  printf '%s\n' "$pubkey" >>"$auth"
  did "added Drover's public key to $auth"
fi
[[ $(stat -c '%a %U' "$auth") == "600 $CLUSTER_USER" ]] ||
  { chown "$CLUSTER_USER:$CLUSTER_USER" "$auth"; chmod 600 "$auth"; }

# ---------------------------------------------------------------------------------------------
STEP="demo programs on the cluster"
# The cluster's installed software: the demo programs, where the cluster deployments of
# catalogue/test-cluster.yaml expect them (a real cluster has its own software tree).
for src in "$SCRIPT_DIR"/../apps/*.mjs; do
  dst=$APPS_DIR/$(basename "$src")
  if ! cmp -s "$src" "$dst"; then
    install -D -m 0644 "$src" "$dst"
    did "installed $dst"
  fi
done

# ---------------------------------------------------------------------------------------------
STEP="submit-delay shims"
# sbatch and qsub as a slow login node runs them, for test/submit-overlap.slurm.test.ts. They
# are on PATH only in the private sshd that test starts (sshd -o SetEnv=PATH=$SHIM_DIR:...),
# never in the shared one on port 2222, and even there pass every call straight through
# unless the job script holds the marker drover-test-delay-submit=<seconds>: then they note
# the call in <workdir>/submit-delays.log and sleep that long first.
shim='#!/bin/bash
# Written by Drover'"'"'s scripts/start-slurm.sh: a pass-through sbatch/qsub that can be slow.
script=${!#}
if (( $# > 0 )) && [[ $script == */.drover-job/*/job.sh && -f $script ]]; then
  seconds=$(grep -o -m 1 "drover-test-delay-submit=[0-9]*" "$script" | cut -d= -f2)
  if [[ -n $seconds ]]; then
    printf "%s %s %s\n" "${0##*/}" "$(date +%s)" "$$" >>"${script%/.drover-job/*}/submit-delays.log"
    sleep "$seconds"
  fi
fi
exec "/usr/bin/${0##*/}" "$@"'
[[ -d $SHIM_DIR ]] || install -d -m 0755 "$SHIM_DIR"
for command in sbatch qsub; do
  if write_file "$SHIM_DIR/$command" 0755 root:root "$shim"; then did "wrote the submit-delay shim $SHIM_DIR/$command"; fi
done

# ---------------------------------------------------------------------------------------------
STEP="configuration files"
node=$(hostname -s)
[[ -n $node ]] || die "hostname -s is empty"
mem_mib=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)
real_memory=$(( mem_mib * 9 / 10 ))
(( real_memory > 8192 )) && real_memory=8192 # same on every project machine; jobs default to 256 MB
(( real_memory >= 1024 )) || die "only $mem_mib MiB of memory"

# Directories (also after a reboot: /run/slurm etc. may be gone).
[[ -d $SLURM_RUN && -d /run/munge && -d /var/lib/slurm/slurmctld && -d /var/lib/slurm/slurmd && -d /run/sshd ]] || {
  install -d -o slurm -g slurm -m 0755 "$SLURM_RUN" "$SLURM_LOG" /var/lib/slurm /var/lib/slurm/slurmctld
  install -d -m 0755 /var/lib/slurm/slurmd /etc/slurm
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  install -d -m 0755 /run/sshd
}

slurm_conf="# Written by Drover's scripts/start-slurm.sh: a single-node test cluster, no cgroups.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$node($SSH_ADDR)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=$SLURM_RUN/slurmctld.pid
SlurmdPidFile=$SLURM_RUN/slurmd.pid
SlurmctldLogFile=$SLURM_LOG/slurmctld.log
SlurmdLogFile=$SLURM_LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
EnforcePartLimits=ALL
MinJobAge=30
KillWait=5
InactiveLimit=0
JobCompType=jobcomp/filetxt
JobCompLoc=$SLURM_LOG/jobcomp.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$SSH_ADDR
AccountingStoragePort=6819
# Limits of QOS are enforced, which needs an association for every user who submits (made
# below with sacctmgr, before slurmctld starts).
AccountingStorageEnforce=associations,limits,qos
# 8 CPUs on a 2-core machine, so that 8 jobs run at once; config_overrides keeps the node
# from being drained for declaring more than it has.
SlurmdParameters=config_overrides
NodeName=$node NodeAddr=$SSH_ADDR CPUs=8 RealMemory=$real_memory State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=10 State=UP
PartitionName=long Nodes=$node MaxTime=60 State=UP
# One queued or running job per user: what a cluster's submit limit looks like to Drover.
PartitionName=limited Nodes=$node MaxTime=10 State=UP QOS=drover-limited"

db_pass=
if [[ -r $SLURMDBD_CONF ]]; then db_pass=$(sed -n 's/^StoragePass=//p' "$SLURMDBD_CONF"); fi
if [[ -z $db_pass ]]; then db_pass=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'); fi
slurmdbd_conf="# Written by Drover's scripts/start-slurm.sh.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=$SSH_ADDR
DbdPort=6819
SlurmUser=slurm
PidFile=$SLURM_RUN/slurmdbd.pid
LogFile=$SLURM_LOG/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=$db_pass
StorageLoc=$DB_NAME"

sshd_conf="# Written by Drover's scripts/start-slurm.sh: sshd for the Slurm test cluster, loopback only.
ListenAddress $SSH_ADDR
Port $SSH_PORT
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile $SSHD_PID
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin no
AllowUsers $CLUSTER_USER
UsePAM no
MaxSessions 10
MaxStartups 50:30:100
X11Forwarding no
PrintMotd no
Subsystem sftp internal-sftp"

slurm_changed= dbd_changed= sshd_changed=
if write_file "$SLURM_CONF" 0644 root:root "$slurm_conf"; then slurm_changed=1; did "wrote $SLURM_CONF"; fi
# spank_pbs (from slurm-wlm-torque) sets PBS_JOBID, PBS_O_WORKDIR, ... inside jobs, as PBS does.
spank_pbs=$(compgen -G '/usr/lib/*/slurm-wlm/spank_pbs.so' | head -n 1 || true)
if [[ -n $spank_pbs ]] &&
  write_file /etc/slurm/plugstack.conf 0644 root:root "optional $spank_pbs"; then
  slurm_changed=1
  did "wrote /etc/slurm/plugstack.conf"
fi
if write_file "$SLURMDBD_CONF" 0600 slurm:slurm "$slurmdbd_conf"; then dbd_changed=1; did "wrote $SLURMDBD_CONF"; fi
if write_file "$SSHD_CONF" 0644 root:root "$sshd_conf"; then sshd_changed=1; did "wrote $SSHD_CONF"; fi
# Readable by hpcuser, so that tests can grep it over ssh.
[[ -e $SLURM_LOG/jobcomp.log ]] || install -o slurm -g slurm -m 0644 /dev/null "$SLURM_LOG/jobcomp.log"

if [[ ! -s /etc/munge/munge.key ]]; then
  mungekey --create --keyfile=/etc/munge/munge.key --force
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  did "created /etc/munge/munge.key"
fi
if [[ ! -s /etc/ssh/ssh_host_ed25519_key ]]; then
  ssh-keygen -A
  did "generated SSH host keys"
fi
host_key=$(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)
write_file "$KNOWN_HOSTS" 0644 root:root "[$SSH_ADDR]:$SSH_PORT $host_key" && did "wrote $KNOWN_HOSTS"

# Config changed under running daemons: restart them gracefully.
if [[ -n $slurm_changed || -n $dbd_changed ]]; then
  restart=()
  if [[ -n $slurm_changed ]]; then
    running "$SLURM_RUN/slurmd.pid" slurmd by-name && restart+=(slurmd)
    running "$SLURM_RUN/slurmctld.pid" slurmctld by-name && restart+=(slurmctld)
  fi
  if [[ -n $dbd_changed ]]; then running "$SLURM_RUN/slurmdbd.pid" slurmdbd by-name && restart+=(slurmdbd); fi
  if (( ${#restart[@]} )); then
    STEP="stop daemons whose configuration changed"
    log "configuration changed: stopping ${restart[*]} to restart them"
    "$SCRIPT_DIR/stop-slurm.sh" "${restart[@]}" || die "could not stop ${restart[*]}"
  fi
fi

# ---------------------------------------------------------------------------------------------
STEP="munged"
if running "$MUNGE_PID" munged by-name; then
  :
else
  launch munged runuser -u munge -- /usr/sbin/munged ||
    start_failed munged /var/log/munge/munged.log "munged did not start"
  wait_for 10 munge bash -c 'munge -n | unmunge' ||
    start_failed munged /var/log/munge/munged.log "munge does not answer"
  running "$MUNGE_PID" munged by-name
  did "started munged (pid $PID)"
fi

# ---------------------------------------------------------------------------------------------
STEP="MariaDB"
mariadb_up() { mysqladmin --connect-timeout=2 -h 127.0.0.1 -P 3306 -uroot ping || mysqladmin --connect-timeout=2 ping; }
if running "$MARIADB_PID" mariadbd by-name || running "$MARIADB_PID" mysqld by-name; then
  :
elif port_open 127.0.0.1 3306; then
  : # a server we do not know of answers on 3306: use it
else
  # mysqld_safe directly, as /etc/init.d/mariadb does: that script then pings with
  # --defaults-file=/etc/mysql/debian.cnf, and where that file is missing it waits 30 s and
  # reports a failure although the server is up.
  [[ -x /usr/bin/mysqld_safe ]] || die "/usr/bin/mysqld_safe is missing (package mariadb-server)"
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  launch mariadb setsid --fork /usr/bin/mysqld_safe
  wait_for 60 "MariaDB" mariadb_up || start_failed mariadb /var/log/mysql/error.log "MariaDB does not answer"
  # stop-slurm.sh stops MariaDB only when it is still the one this script started.
  if running "$MARIADB_PID" mariadbd by-name; then echo "$PID" >"$RUN_DIR/mariadb-started-here"; fi
  did "started MariaDB (pid ${PID:-?})"
fi

# ---------------------------------------------------------------------------------------------
STEP="slurmdbd"
if running "$SLURM_RUN/slurmdbd.pid" slurmdbd by-name; then
  :
else
  wait_for 60 "MariaDB" mariadb_up || die "MariaDB does not answer on 127.0.0.1:3306"
  # root over the socket first (Debian's unix_socket login), then over TCP without a password.
  sqlq=(mysql -uroot --connect-timeout=5)
  "${sqlq[@]}" -e 'select 1' >/dev/null 2>&1 || sqlq=(mysql -uroot -h 127.0.0.1 -P 3306 --connect-timeout=5)
  "${sqlq[@]}" -e 'select 1' >/dev/null 2>&1 ||
    die "cannot log in to MariaDB as root without a password (socket or 127.0.0.1:3306)"
  "${sqlq[@]}" <<SQL || die "could not create database $DB_NAME and user slurm in MariaDB"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$db_pass';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_pass';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$db_pass';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_pass';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO 'slurm'@'localhost';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO 'slurm'@'127.0.0.1';
SQL
  launch slurmdbd /usr/sbin/slurmdbd || start_failed slurmdbd "$SLURM_LOG/slurmdbd.log" "slurmdbd did not start"
  wait_for 30 "slurmdbd" port_open 127.0.0.1 6819 ||
    start_failed slurmdbd "$SLURM_LOG/slurmdbd.log" "slurmdbd does not listen on 127.0.0.1:6819"
  running "$SLURM_RUN/slurmdbd.pid" slurmdbd by-name
  did "started slurmdbd (pid $PID)"
fi

# ---------------------------------------------------------------------------------------------
# What slurmctld's enforcement and its partitions need in slurmdbd, before it starts: the
# cluster, the QOS of the `limited` partition, and the account `drover` (jobs may name it,
# `#PBS -A drover`) with hpcuser and root in it.
STEP="accounting: cluster, QOS, associations"
has() { sacctmgr -n -P show "$1" format="$2" 2>/dev/null | grep -qx -- "$3"; }
has cluster cluster "$CLUSTER_NAME" || { sacctmgr -i add cluster "$CLUSTER_NAME" >/dev/null && did "added cluster $CLUSTER_NAME to slurmdbd"; } ||
  die "sacctmgr add cluster $CLUSTER_NAME failed"
has qos name drover-limited || { sacctmgr -i add qos drover-limited MaxSubmitJobsPerUser=1 >/dev/null && did "added QOS drover-limited"; } ||
  die "sacctmgr add qos drover-limited failed"
has account account drover || { sacctmgr -i add account drover Cluster="$CLUSTER_NAME" >/dev/null && did "added account drover"; } ||
  die "sacctmgr add account drover failed"
in_account() { sacctmgr -n -P show association where account=drover user="$1" format=user 2>/dev/null | grep -qx -- "$1"; }
for user in "$CLUSTER_USER" root; do
  in_account "$user" || { sacctmgr -i add user "$user" Account=drover Cluster="$CLUSTER_NAME" >/dev/null && did "added $user to account drover"; } ||
    die "sacctmgr add user $user failed"
done

# ---------------------------------------------------------------------------------------------
STEP="slurmctld"
ctld_up() { scontrol ping | grep -q 'is UP'; }
if running "$SLURM_RUN/slurmctld.pid" slurmctld by-name; then
  wait_for 30 "slurmctld" ctld_up || die "slurmctld (pid $PID) runs but 'scontrol ping' does not say UP"
else
  launch slurmctld /usr/sbin/slurmctld || start_failed slurmctld "$SLURM_LOG/slurmctld.log" "slurmctld did not start"
  wait_for 30 "slurmctld" ctld_up ||
    start_failed slurmctld "$SLURM_LOG/slurmctld.log" "'scontrol ping' did not say UP within 30 s"
  running "$SLURM_RUN/slurmctld.pid" slurmctld by-name
  did "started slurmctld (pid $PID)"
fi

# ---------------------------------------------------------------------------------------------
STEP="slurmd"
NODE_STATE=
node_usable() { # IDLE, MIXED or ALLOCATED, without DOWN/DRAIN/NOT_RESPONDING flags
  NODE_STATE=$(scontrol -o show node "$node" 2>/dev/null | grep -o 'State=[^ ]*' | head -n 1 || true)
  NODE_STATE=${NODE_STATE#State=}
  [[ $NODE_STATE =~ ^(IDLE|MIXED|ALLOCATED) && ! $NODE_STATE =~ (DRAIN|DOWN|NOT_RESPONDING|\*) ]]
}
if running "$SLURM_RUN/slurmd.pid" slurmd by-name; then
  :
else
  launch slurmd /usr/sbin/slurmd || start_failed slurmd "$SLURM_LOG/slurmd.log" "slurmd did not start"
  running "$SLURM_RUN/slurmd.pid" slurmd by-name || true
  did "started slurmd (pid ${PID:-?})"
fi
if ! wait_for 10 "node $node" node_usable; then
  # A node left DOWN/DRAINED by an earlier run: resume it once.
  log "node $node is ${NODE_STATE:-unknown}: resuming it"
  scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
  wait_for 20 "node $node" node_usable ||
    { show_log_tail "$SLURM_LOG/slurmd.log"; die "node $node is ${NODE_STATE:-unknown}, not idle"; }
fi

# ---------------------------------------------------------------------------------------------
STEP="sshd on $SSH_ADDR:$SSH_PORT"
if running "$SSHD_PID" sshd; then
  if [[ -n $sshd_changed ]]; then
    /usr/sbin/sshd -t -f "$SSHD_CONF" || die "$SSHD_CONF is invalid"
    kill -HUP "$PID"
    sleep 0.3
    did "reloaded sshd (pid $PID) with the new $SSHD_CONF"
  fi
else
  if port_open "$SSH_ADDR" "$SSH_PORT"; then
    die "$SSH_ADDR:$SSH_PORT is taken by a process that is not this script's sshd ($SSHD_PID)"
  fi
  /usr/sbin/sshd -t -f "$SSHD_CONF" || die "$SSHD_CONF is invalid"
  launch sshd /usr/sbin/sshd -f "$SSHD_CONF" -E "$SSHD_LOG" || start_failed sshd "$SSHD_LOG" "sshd did not start"
  wait_for 10 "sshd" port_open "$SSH_ADDR" "$SSH_PORT" ||
    start_failed sshd "$SSHD_LOG" "sshd does not listen on $SSH_ADDR:$SSH_PORT"
  running "$SSHD_PID" sshd || true
  did "started sshd on $SSH_ADDR:$SSH_PORT (pid ${PID:-?})"
fi

STEP=done
if (( ${#DID[@]} )); then
  log "Slurm test cluster $CLUSTER_NAME is up (node $node: $NODE_STATE) in $(elapsed) s"
else
  log "Slurm test cluster $CLUSTER_NAME was already up (node $node: $NODE_STATE); nothing to do, $(elapsed) s"
fi
echo "  ssh -i $KEY -o UserKnownHostsFile=$KNOWN_HOSTS -o StrictHostKeyChecking=yes -p $SSH_PORT $CLUSTER_USER@$SSH_ADDR"
