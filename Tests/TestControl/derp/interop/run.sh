#!/bin/sh
# Runs arkitekt_relay.py (see its header) with its processes' UDP on loopback dropped (matched by a group id of their
# own, so nothing else on the machine is affected); BLOCK_UDP=0 leaves UDP open.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../../.."  # the repository root, for the default CONTROL_CMD
gid=47311
table=derpserver_interop
cleanup() { nft delete table inet $table 2>/dev/null; }
trap cleanup EXIT INT TERM
if [ "${BLOCK_UDP:-1}" = 1 ]; then
  nft -f - <<NFT
table inet $table {
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "lo" meta skgid $gid meta l4proto udp counter drop
  }
}
NFT
  export NFT_TABLE=$table
fi
setpriv --regid $gid --clear-groups python3 "$here/arkitekt_relay.py"
rc=$?
nft list table inet $table 2>/dev/null | grep counter
exit $rc
