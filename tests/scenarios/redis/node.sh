#!/bin/sh
# One Redis node of the Sentinel lab, run in its host as:
#   sh node.sh SELF N1 N2 N3
# SELF is this host's address ({self}), N1 N2 N3 the three nodes' addresses
# ({n1} {n2} {n3}); N1 is the first master. It runs redis-server on
# SELF:6379 and redis-sentinel on SELF:26379 (quorum 2), both in the
# foreground of this script's process group, so that a `kill`/`stop` of
# the host's program reaches both. Configs live in /tmp/badnet-redis-NETNS
# (the host's namespace, unique per run and host), wiped at start (a
# SIGKILL leaves it) and removed on SIGTERM/SIGINT.
# It prints "node SELF: ready (redis pid R, sentinel pid S)" once the server
# is up (a replica: in sync with its master) and the sentinel answers with
# its timers set: the scenario's `ready` line.
#
# On a restart, it asks the other nodes' sentinels who the master is now
# and starts as a replica of it (the cluster may have failed over since the
# first start): what a persisted sentinel/replica config would do.
#
# No split vote. With one down-after-milliseconds for all, the two
# sentinels left with a majority now and then reach ODOWN within a few ms
# of each other, each votes for itself, neither is elected, and the next
# try waits 2 x failover-timeout + up to 1 s (2 of 60 failovers here, one
# taking 6.5 s). So down-after differs per node by STAGGER: DOWN_AFTER on
# N2, +STAGGER on N3, +2 x STAGGER on N1; and ask-period (SENTINEL DEBUG,
# below) is long. A sentinel asks the others whether the master is down at
# once when it finds it SDOWN, then only every ask-period: with n1 cut off,
# n2 (1000 ms) asks first and hears "no"; n3 (1600 ms) asks next, hears
# "yes", starts the failover and asks for votes; n2 votes for it before its
# own next question, ask-period later. This holds while
#   0 < SDOWN(n3) - SDOWN(n2) = STAGGER +- (ping-period + a tick)
#       < ask-period - (n3's start of failover after its SDOWN, ~0.1 s)
# i.e. 600 +- 500 ms within (0, ~1900) ms; and while the first question may
# be asked at all: Sentinel allows it only ask-period after it discovered
# the other sentinel, so the partition must come more than
# ask-period - 1.6 s after discovery (check.sh fails if the sentinels have
# not found each other 0.9 s before the partition).
#
# Knobs, from the environment (also for showing that check.sh catches a
# broken setup): QUORUM (2), MIN_REPLICAS (1, min-replicas-to-write),
# MAX_LAG (1, min-replicas-max-lag, seconds), DOWN_AFTER (1000 ms),
# STAGGER (600 ms), FAILOVER_TIMEOUT (2000 ms), FAST (1: shorten
# Sentinel's internal periods with SENTINEL DEBUG; 0: Redis's defaults),
# PING_PERIOD (400 ms), ASK_PERIOD (2000 ms).
set -u
self=$1; shift
first=$1
nodes="$*"
port=6379
sport=26379
name=mymaster
quorum=${QUORUM:-2}
min_replicas=${MIN_REPLICAS:-1}
max_lag=${MAX_LAG:-1}
stagger=${STAGGER:-600}
down_after=${DOWN_AFTER:-1000}
set -- $nodes
case $self in
  "$1") down_after=$((down_after + 2 * stagger)) ;;
  "${3:-}") down_after=$((down_after + stagger)) ;;
esac
failover_timeout=${FAILOVER_TIMEOUT:-2000}
fast=${FAST:-1}
# The host's network namespace names the run and the host: a dir of its
# own even when two runs go on at once (they share the filesystem).
ns=$(ip netns identify $$ 2>/dev/null)
dir=/tmp/badnet-redis-${ns:-$self}

say() { echo "node $self: $*"; }
cli() { timeout 2 redis-cli -h "$self" "$@" 2>/dev/null; }

# Wipe this node's dir (a SIGKILL left it), and those of runs whose
# namespace is gone (their nodes were SIGKILLed at the end).
rm -rf "$dir"
for d in /tmp/badnet-redis-bn*; do
  [ -d "$d" ] || continue
  ip netns list 2>/dev/null | grep -q "^${d#/tmp/badnet-redis-}\b" || rm -rf "$d"
done
mkdir -p "$dir" || exit 1

# Who is master now: N1 at the first start; on a restart, whatever the
# other nodes' sentinels say (a refused connection answers at once).
master=$first
for peer in $nodes; do
  [ "$peer" = "$self" ] && continue
  said=$(timeout 1 redis-cli -h "$peer" -p $sport --raw \
    SENTINEL get-master-addr-by-name $name 2>/dev/null | head -n 1)
  case $said in
    *.*.*.*) master=$said; say "sentinel $peer names master $said"; break ;;
  esac
done

cat > "$dir/redis.conf" <<EOF
bind $self
port $port
protected-mode no
daemonize no
dir $dir
logfile ""
loglevel warning
save ""
appendonly no
rdb-del-sync-files yes
repl-diskless-sync yes
repl-diskless-sync-delay 0
repl-diskless-load swapdb
repl-ping-replica-period 1
min-replicas-to-write $min_replicas
min-replicas-max-lag $max_lag
shutdown-timeout 0
EOF
if [ "$master" != "$self" ]; then
  echo "replicaof $master $port" >> "$dir/redis.conf"
fi

# A fixed sentinel id per address: a restarted sentinel is the same
# sentinel to its peers, not a second one at the same address.
myid=$(printf '%s' "redis-sentinel-$self" | sha1sum | cut -c1-40)
cat > "$dir/sentinel.conf" <<EOF
bind $self
port $sport
protected-mode no
daemonize no
dir $dir
logfile ""
loglevel notice
sentinel myid $myid
sentinel monitor $name $master $port $quorum
sentinel down-after-milliseconds $name $down_after
sentinel failover-timeout $name $failover_timeout
sentinel parallel-syncs $name 2
EOF

rpid= spid=
stop() {
  trap - TERM INT HUP
  [ -n "$spid" ] && kill "$spid" 2>/dev/null
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
  wait
  rm -rf "$dir"
  exit "${1:-0}"
}
trap 'stop 0' TERM INT HUP

redis-server "$dir/redis.conf" &
rpid=$!
say "redis-server pid $rpid, master $master, sentinel down-after $down_after ms"

# Up, and (a replica) in sync, within 10 s; else go on and say so.
i=0
while [ $i -lt 200 ]; do
  if [ "$master" = "$self" ]; then
    [ "$(cli PING)" = PONG ] && break
  else
    cli INFO replication | grep -q '^master_link_status:up' && break
  fi
  kill -0 $rpid 2>/dev/null || { say "redis-server exited"; stop 1; }
  i=$((i + 1)); sleep 0.05
done
[ $i -ge 200 ] && say "redis-server not in sync after 10 s; starting the sentinel anyway"

redis-sentinel "$dir/sentinel.conf" &
spid=$!
i=0
while [ "$(cli -p $sport PING)" != PONG ]; do
  kill -0 $spid 2>/dev/null || { say "redis-sentinel exited"; stop 1; }
  i=$((i + 1)); [ $i -ge 200 ] && { say "sentinel not answering after 10 s"; stop 1; }
  sleep 0.05
done
if [ "$fast" = 1 ]; then
  # Sentinel's internal periods (ms), shortened as Redis's own sentinel
  # tests do. info-period: INFO to a master (how replicas are found);
  # publish-period: hello messages (how sentinels find each other; x4 is
  # the wait before a returning old master is made a replica);
  # ping-period: how often instances are pinged (SDOWN comes within
  # ~ping-period after down-after), and the least time between two
  # reconnections of a link: at 1000 (the default) a link to a new master
  # can wait ~1 s to reconnect, which with down-after 1000 now and then
  # made the new master SDOWN at once and, with another sentinel's stale
  # "down" answer about the OLD master still counted (for 5 x ask-period),
  # ODOWN: a second, needless failover (1 of 60 here). Not below ~300:
  # a replica is a candidate only if its INFO is younger than
  # 5 x ping-period, and replicas get INFO once a second (at 100: "no good
  # slave"). ask-period: see the top. min-link-reconnect-period: how soon a
  # link that gets no answers is dropped and made anew (after a heal a
  # fresh SYN gets through at once, TCP's retransmissions back off).
  cli -p $sport SENTINEL DEBUG info-period 500 publish-period 250 \
    ping-period ${PING_PERIOD:-400} ask-period ${ASK_PERIOD:-2000} \
    min-link-reconnect-period 500 >/dev/null \
    || say "SENTINEL DEBUG failed"
fi
say "ready (redis pid $rpid, sentinel pid $spid)"

# Foreground: until a signal, or until one of the two exits.
while kill -0 $rpid 2>/dev/null && kill -0 $spid 2>/dev/null; do
  sleep 0.5 &
  wait $!
done
say "redis-server or redis-sentinel exited"
stop 1
