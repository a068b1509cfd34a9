#!/bin/sh
# Runs rig.sh: xen_host_network against Debian's real ifupdown and bridge-utils in private mount and network
# namespaces (see README.md). Needs root, unshare, overlayfs, apt sources of the Debian release to test, and a
# Python with ansible-core as the argument.  Usage: tests/lab/netns-ifupdown/run.sh /path/to/python
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
py=$1
work=$(mktemp -d /tmp/netns-ifupdown.XXXXXX)
cd "$work"
apt-get download ifupdown bridge-utils >/dev/null
for deb in ./*.deb; do dpkg -x "$deb" x; done
mkdir -p coll/ansible_collections/xenfleet out
ln -s "$repo" coll/ansible_collections/xenfleet/xen
PYTHONPATH="$work/coll" unshare -m -n sh "$here/rig.sh" "$work/x" "$work/out" "$py"
echo "work directory (the module's JSON results): $work"
