#!/bin/sh
# The client of the Redis Sentinel scenario, run in host cli as:
#   sh check.sh N1 N2 N3 [P H K R E]
# N1 N2 N3: the nodes' addresses; N1 is the first master (see node.sh).
# P H K R E: the timeline in seconds from this script's start, as in the
# scenario file: partition n1 | n2,n3 at P, heal at H, kill n1 at K,
# restart n1 at R; E is the last deadline. Defaults: 2 6.3 11.3 11.8 15
# (5 s from the heal to the kill: convergence took up to 2.6 s alone and
# more than 3.3 s once inside a loaded make test).
# It checks, with redis-cli only, what Redis Sentinel promises, prints one
# line per observation with its time, and exits 1 with a line starting
# "BROKEN:" that names the first promise not kept (2: bad usage).
set -u
[ $# -ge 3 ] || { echo "usage: sh check.sh N1 N2 N3 [P H K R E]"; exit 2; }
N1=$1 N2=$2 N3=$3
ms() { echo "$1" | awk '{ printf "%d", $1 * 1000 }'; }
P=$(ms "${4:-2}") H=$(ms "${5:-6.3}") K=$(ms "${6:-11.3}") R=$(ms "${7:-11.8}") E=$(ms "${8:-15}")
NAME=mymaster
start=$(date +%s%3N)

now() { echo $(( $(date +%s%3N) - start )); }
sec() { awk -v m="$1" 'BEGIN { printf "%.2f", m / 1000 }'; }
say() { echo "[$(sec "$(now)") s] $*"; }
broken() { say "BROKEN: $*"; exit 1; }
at() { while [ "$(now)" -lt "$1" ]; do sleep 0.02; done; }
nap() { sleep 0.1; }
# redis-cli with a bound: cli is in no partition group, but a stopped or
# dead node must not hang the check.
rc() { h=$1; shift; timeout 2 redis-cli -h "$h" --raw "$@" 2>&1 | tr -d '\r'; }
sc() { h=$1; shift; timeout 2 redis-cli -h "$h" -p 26379 --raw "$@" 2>&1 | tr -d '\r'; }
name() { # n1/n2/n3 for an address
  case $1 in "$N1") echo n1 ;; "$N2") echo n2 ;; "$N3") echo n3 ;; *) echo "'$1'" ;; esac
}
master_of() { sc "$1" SENTINEL get-master-addr-by-name $NAME | head -n 1; }
# field FIELD: a value from SENTINEL MASTER's field/value lines on stdin
field() { awk -v f="$1" 'NR % 2 == 1 { k = $0; next } k == f { print; exit }'; }
info() { rc "$1" INFO replication | grep "^$2:" | cut -d: -f2; }
# wset HOST KEY VALUE N [MS]: SET then WAIT N MS (500) on one connection;
# prints the SET's reply and WAIT's count on one line ("OK 2 ",
# "NOREPLICAS ..."). Just after a replica's first sync its acks start with
# its first REPLCONF ACK, which it sends once a second: up to ~1 s.
wset() {
  printf 'SET %s %s\nWAIT %s %s\n' "$2" "$3" "$4" "${5:-500}" |
    timeout 2 redis-cli -h "$1" --raw 2>&1 | tr -d '\r' | grep -v '^$' | tr '\n' ' '
}
sentinels() { # "n1->n1 n2->n3 n3->n3": whom each sentinel names
  out=
  for h in "$N1" "$N2" "$N3"; do out="$out $(name "$h")->$(name "$(master_of "$h")")"; done
  echo "${out# }"
}

say "timeline: partition at $(sec $P) s, heal at $(sec $H) s, kill n1 at $(sec $K) s, restart n1 at $(sec $R) s, end by $(sec $E) s"

# --- 1. Before the fault: a healthy group, and a write both replicas ack.
# The sentinels must have found each other 0.9 s before the partition: a
# sentinel asks another whether the master is down only ask-period (2 s,
# node.sh) after it found it, and the one that should start the failover
# asks 1.6 s after the partition at the earliest.
state=
while :; do
  state=
  [ "$(info "$N1" role)" = master ] || state="$state n1 not master;"
  [ "$(rc "$N1" INFO replication | grep -c '^slave[0-9]*:.*state=online')" = 2 ] || state="$state n1 has not 2 online replicas;"
  for h in "$N1" "$N2" "$N3"; do
    m=$(sc "$h" SENTINEL MASTER $NAME)
    [ "$(echo "$m" | field ip)" = "$N1" ] || state="$state sentinel $(name "$h") does not name n1;"
    [ "$(echo "$m" | field num-slaves)" = 2 ] || state="$state sentinel $(name "$h") knows $(echo "$m" | field num-slaves) replicas;"
    [ "$(echo "$m" | field num-other-sentinels)" = 2 ] || state="$state sentinel $(name "$h") knows $(echo "$m" | field num-other-sentinels) other sentinels;"
  done
  [ -z "$state" ] && break
  [ "$(now)" -ge $((P - 900)) ] && broken "not ready 0.9 s before the partition:$state"
  nap
done
say "ready: n1 is master with 2 replicas; each sentinel names n1 and knows 2 replicas and 2 other sentinels"

tries=0 first=
while :; do
  got=$(wset "$N1" before 1 2 1000)
  tries=$((tries + 1)); [ -z "$first" ] && first=$got
  [ "$got" = "OK 2 " ] && break
  [ "$(now)" -ge $((P - 100)) ] && broken "before the partition, a write to master n1 was not acknowledged by both replicas (WAIT 2): $got"
  nap
done
say "before the partition: a write to n1 was acknowledged by 2 replicas (WAIT 2)$( [ $tries -gt 1 ] && echo "; $tries tries, the first got: $first")"
[ "$(now)" -lt "$P" ] || broken "the checks before the partition ran past $(sec $P) s"

# --- 2. Partition n1 | n2,n3: the majority elects a master that takes
# writes; the old master, alone, refuses writes once its replicas lag.
at "$P"
say "partition n1 | n2,n3 due now"
new= t_new= t_write= t_norep= last_ok= i=0 acked=
while :; do
  t=$(now)
  if [ -z "$t_norep" ]; then
    i=$((i + 1))
    got=$(rc "$N1" SET "lost:$i" "$i")
    case $got in
      OK) last_ok=$t acked="$acked lost:$i" ;;
      NOREPLICAS*) t_norep=$t
        say "isolated n1 refuses writes: NOREPLICAS, $(sec $((t - P))) s after the partition (its last acknowledged write at $(sec $((${last_ok:-$P} - P))) s; $((i - 1)) writes accepted in all)" ;;
      *) say "n1 answered a write with: $got" ;;
    esac
  fi
  if [ -z "$new" ]; then
    a=$(master_of "$N2") b=$(master_of "$N3")
    if [ "$a" = "$b" ] && { [ "$a" = "$N2" ] || [ "$a" = "$N3" ]; }; then
      new=$a t_new=$t
      say "new master $(name "$new") named by the sentinels of n2 and n3, $(sec $((t - P))) s after the partition"
    fi
  elif [ -z "$t_write" ]; then
    got=$(rc "$new" SET during "$new")
    case $got in
      OK) t_write=$t; say "new master $(name "$new") accepts writes, $(sec $((t - P))) s after the partition" ;;
    esac
  fi
  [ -n "$t_norep" ] && [ -n "$t_write" ] && break
  if [ "$t" -ge $((H - 100)) ]; then
    [ -z "$new" ] && broken "no new master among n2, n3 within $(sec $((H - P))) s of the partition (sentinels: $(sentinels))"
    [ -z "$t_write" ] && broken "new master $(name "$new") did not accept a write within $(sec $((H - P))) s of the partition: $(rc "$new" SET during x)"
    broken "isolated old master n1 still accepts writes $(sec $((t - P))) s after the partition (min-replicas-to-write)"
  fi
  nap
done
m1=$(master_of "$N1")
[ "$m1" = "$N1" ] || broken "the minority sentinel on n1 failed over alone: it names $(name "$m1")"
say "the minority's sentinel (n1) still names n1 (it sees n1 up and reaches no other sentinel)"
# n1's acknowledged writes since the partition was due: those that reached
# the majority before the cut took effect survive; the rest are lost at the
# heal (Sentinel's documented window, bounded by min-replicas-max-lag).
n_acked=$(echo $acked | wc -w)
n_kept=0
[ "$n_acked" -gt 0 ] && n_kept=$(rc "$new" MGET $acked | grep -c .)
say "n1 acknowledged $n_acked writes after the partition was due; $n_kept of them reached the majority, $((n_acked - n_kept)) will be lost"

# --- 3. Heal: one master for all, n1 its replica with the new master's
# data: the write made there during the partition, and of n1's own writes
# during it exactly those the new master has (the others are dropped).
at "$H"
say "heal due now"
while :; do
  t=$(now) state=
  s=$(sentinels)
  [ "$s" = "n1->$(name "$new") n2->$(name "$new") n3->$(name "$new")" ] || state="$state sentinels: $s;"
  [ "$(info "$N1" role)" = slave ] || state="$state n1 role $(info "$N1" role);"
  [ "$(info "$N1" master_host)" = "$new" ] || state="$state n1 replicates '$(info "$N1" master_host)';"
  [ "$(info "$N1" master_link_status)" = up ] || state="$state n1 link $(info "$N1" master_link_status);"
  [ "$(rc "$N1" GET during)" = "$new" ] || state="$state n1 lacks the write made during the partition;"
  if [ -z "$state" ] && [ "$n_acked" -gt 0 ]; then
    a=$(rc "$N1" MGET $acked | tr '\n' ,) b=$(rc "$new" MGET $acked | tr '\n' ,)
    [ "$a" = "$b" ] || state="$state n1's writes during the partition differ from $(name "$new")'s ($a vs $b);"
  fi
  if [ -z "$state" ]; then
    got=$(wset "$new" healed 1 2)
    [ "$got" = "OK 2 " ] && break
    state=" write on $(name "$new") not acked by 2 replicas: $got"
  fi
  [ "$t" -ge $((K - 100)) ] && broken "no convergence $(sec $((t - H))) s after the heal:$state"
  nap
done
say "converged $(sec $((t - H))) s after the heal: all sentinels name $(name "$new"), n1 replicates it, holds the partition's write and, of its own, only the $n_kept that reached the majority; WAIT 2 acked"

# --- 4. Kill n1 (a replica now): the master keeps taking writes that the
# remaining replica acknowledges, and the sentinels keep the master.
at "$K"
say "kill n1 due now"
while :; do
  t=$(now)
  got=$(wset "$new" killed 1 1)
  if [ "$got" = "OK 1 " ] && [ "$(info "$new" connected_slaves)" = 1 ]; then break; fi
  [ "$t" -ge $((R - 100)) ] && broken "with replica n1 killed, master $(name "$new") has $(info "$new" connected_slaves) replicas and a write got: $got (want OK and WAIT 1 = 1)"
  nap
done
m=$(master_of "$N2")
[ "$m" = "$new" ] || broken "a replica's death changed the master: sentinel n2 names $(name "$m")"
say "with n1 killed, $(name "$new") has 1 replica and a write is acknowledged by it (WAIT 1), $(sec $((t - K))) s after the kill"

# --- 5. Restart n1: it rejoins as a replica of the master and catches up.
at "$R"
say "restart n1 due now"
while :; do
  t=$(now) state=
  [ "$(info "$N1" role)" = slave ] || state="$state n1 role '$(info "$N1" role)';"
  [ "$(info "$N1" master_host)" = "$new" ] || state="$state n1 replicates '$(info "$N1" master_host)';"
  [ "$(info "$N1" master_link_status)" = up ] || state="$state n1 link '$(info "$N1" master_link_status)';"
  [ "$(rc "$N1" GET killed)" = 1 ] || state="$state n1 lacks the write made while it was dead;"
  s=$(sentinels)
  [ "$s" = "n1->$(name "$new") n2->$(name "$new") n3->$(name "$new")" ] || state="$state sentinels: $s;"
  if [ -z "$state" ]; then
    got=$(wset "$new" rejoined 1 2)
    [ "$got" = "OK 2 " ] && break
    state=" write not acked by 2 replicas: $got"
  fi
  [ "$t" -ge "$E" ] && broken "n1 did not rejoin $(sec $((t - R))) s after its restart:$state"
  nap
done
say "n1 rejoined $(sec $((t - R))) s after its restart: replica of $(name "$new"), has the write made while it was dead, WAIT 2 acked"
say "all promises held"
