#!/bin/sh
# A node of the example cluster, run as: sh node.sh SELF PEERS
# It answers on SELF port 7000 (the lecture's UDP server) and sends each of
# its PEERS (comma-separated) a datagram every 20 ms (the lecture's UDP
# client), so that every pair of nodes carries traffic for the switch to
# count. Everything it starts is in its process group: a `kill` of the
# node kills it all.
self=$1
peers=$2
IFS=,
for peer in $peers; do
  udp-client --probe --server "$peer" --port 7000 --count 1000 --interval 20ms \
    --timeout 30s >/dev/null 2>&1 &
done
exec udp-server --bind "$self" --port 7000
