#!/bin/sh
# The example cluster's client, run in host cli as: sh check.sh N1 N2 N3
# Times count from its start, as the scenario's timeline does. It checks
# what the timeline did to the nodes' programs, as their answers show:
# every node answers at the start; n3 is silent while stopped (1.1 s to
# 2.3 s) and answers once continued; n2 is silent once killed (2.5 s) and
# answers again once restarted (3.5 s).
start=$(date +%s%3N)
at() { # waits until $1 ms from the start
  while [ $(( $(date +%s%3N) - start )) -lt "$1" ]; do sleep 0.02; done
}
answers() { # whether the node at $1 echoes at least one of five datagrams
  udp-client --probe --server "$1" --port 7000 --count 5 --interval 10ms \
    --timeout 300ms --json | grep -q '"received":[1-9]'
}
n=0
for node in "$@"; do
  n=$((n + 1))
  answers "$node" || { echo "n$n ($node) did not answer at the start"; exit 1; }
done
echo "every node answered at the start"
at 1300
if answers "$3"; then echo "n3 answered while stopped"; exit 1; fi
echo "n3 was silent while stopped"
at 2600
answers "$3" || { echo "n3 did not answer once continued"; exit 1; }
echo "n3 answered once continued"
if answers "$2"; then echo "n2 answered after it was killed"; exit 1; fi
echo "n2 was silent once killed"
at 3900
answers "$2" || { echo "n2 did not answer after its restart"; exit 1; }
echo "n2 answered again after its restart"
