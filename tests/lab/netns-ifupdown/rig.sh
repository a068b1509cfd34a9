#!/bin/sh
# Runs INSIDE `unshare -m -n` (private mount and network namespaces: nothing here reaches the machine's own
# network or files). Real ifupdown 0.8.41 and bridge-utils 1.7.1 (Debian 12 .debs, extracted to $DEBS) are
# overlaid onto /usr/sbin, /usr/lib and a private /etc; /run is a private tmpfs. A veth pair stands in for the
# server's NIC eno1 and the network behind it: its peer sits in netns "ctl" with 192.0.2.1 (the gateway and the
# "controller"). The "controller" confirms a change only when a TCP connection to the host's address succeeds after
# the host said it waits - as the role confirms only over a connection made after the change.
set -eu
DEBS=$1
OUT=$2
PY=$3  # a Python with ansible-core; PYTHONPATH holds ansible_collections/xenfleet/xen
RIG=$(cd "$(dirname "$0")" && pwd)
mount --make-rprivate /
mkdir -p "$OUT/ovl"
for d in etc usr_sbin usr_lib; do mkdir -p "$OUT/ovl/$d/u" "$OUT/ovl/$d/w"; done
mount -t overlay overlay -o lowerdir=/etc,upperdir="$OUT/ovl/etc/u",workdir="$OUT/ovl/etc/w" /etc
mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir="$OUT/ovl/usr_sbin/u",workdir="$OUT/ovl/usr_sbin/w" /usr/sbin
mount -t overlay overlay -o lowerdir=/usr/lib,upperdir="$OUT/ovl/usr_lib/u",workdir="$OUT/ovl/usr_lib/w" /usr/lib
mount -t tmpfs tmpfs /run
# sysfs shows the network devices of the namespace that mounts it: bridge-utils and ifupdown look there
mount -t sysfs sysfs /sys
mkdir -p /run/network /run/netns
cp -a "$DEBS/sbin/." /usr/sbin/
cp -a "$DEBS/lib/bridge-utils" "$DEBS/lib/ifupdown" /usr/lib/
cp -a "$DEBS/etc/network" /etc/
cp -a "$DEBS/etc/default/bridge-utils" "$DEBS/etc/default/networking" /etc/default/
rm -f /etc/network/if-up.d/resolved /etc/network/if-down.d/resolved

ip link set lo up
ip link add eno1 type veth peer name peer1
ip link set eno1 address 52:54:00:12:34:01
ip netns add ctl
ip link set peer1 netns ctl
ip netns exec ctl ip link set lo up
ip netns exec ctl ip addr add 192.0.2.1/24 dev peer1
ip netns exec ctl ip link set peer1 up

cat > /etc/network/interfaces <<'EOF'
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug eno1
iface eno1 inet static
	address 192.0.2.10/24
	gateway 192.0.2.1
EOF
mkdir -p /etc/network/interfaces.d
ifup eno1

# what the controller reaches: a TCP service on the host (as SSH is), on every address
"$PY" -m http.server --bind 0.0.0.0 8022 >/dev/null 2>&1 &
SERVER=$!
sleep 1
reach() {  # TCP from the controller's namespace to the host's $1:8022
    ip netns exec ctl "$PY" -c "import socket; socket.create_connection(('$1', 8022), timeout=1).close()" 2>/dev/null
}

controller() {  # $1 token, $2 address: confirm once the host waits and answers at the address
    i=0
    while [ $i -lt 200 ]; do
        if grep -q "^waiting $1" /run/xenfleet-xen/network-state 2>/dev/null; then
            if reach "$2"; then
                echo "$1" > /run/xenfleet-xen/network-confirm
                echo "controller: reached $2, confirmed"
                return 0
            fi
        fi
        if grep -q "^done $1" /run/xenfleet-xen/network-state 2>/dev/null; then
            echo "controller: host is done without my confirmation"
            return 0
        fi
        sleep 0.5
        i=$((i + 1))
    done
}

state() {
    echo "--- ip -br addr / bridge ports / default route"
    ip -br addr | sed 's/^/    /'
    for b in /sys/class/net/*/brif; do [ -d "$b" ] && echo "    ${b%/brif}: $(ls "$b")" | sed 's#/sys/class/net/##'; done
    ip route show default | sed 's/^/    route: /'
    echo "    ctl -> 192.0.2.10:8022: $(reach 192.0.2.10 && echo reachable || echo unreachable)"
}

run() {  # $1 name, $2 module args (JSON), $3 token or "", $4 address the controller must reach
    echo "=== $1"
    CTL=""
    if [ -n "$3" ]; then controller "$3" "$4" & CTL=$!; fi
    "$PY" "$RIG/drive.py" "$2" > "$OUT/$1.json" || true
    [ -z "$CTL" ] || wait "$CTL"
    "$PY" -c "
import json, sys
r = json.load(open('$OUT/$1.json'))
print('    failed=%s changed=%s applied=%s rolled_back=%s' % (r.get('failed', False), r.get('changed'), r.get('applied'), r.get('rolled_back')))
print('    msg: %s' % r.get('msg', '')[:400])
print('    files: %s' % [(f['path'], f['action']) for f in r.get('files', [])])
print('    down %s up %s' % (r.get('down'), r.get('up')))
for e in r.get('log', []):
    print('    log: %s' % json.dumps(e)[:300])
"
    state
}

echo "=== installer state"
state
run check '{"bridges": [{"name": "xenbr0", "uplink": "eno1"}], "_ansible_check_mode": true, "_ansible_diff": true, "settle": 0, "backup_dir": "/run/xenfleet-backup"}' "" ""
"$PY" -c "
import json; r = json.load(open('$OUT/check.json'))
for d in r['diff']:
    print('--- diff %s' % d['after_header']); print(d['after'])"
run apply '{"bridges": [{"name": "xenbr0", "uplink": "eno1"}], "confirm_token": "tok1", "confirm_timeout": 20, "settle": 0, "backup_dir": "/run/xenfleet-backup"}' tok1 192.0.2.10
echo "--- /etc/network/interfaces"; cat /etc/network/interfaces
echo "--- /etc/network/interfaces.d/"; ls /etc/network/interfaces.d/
run again '{"bridges": [{"name": "xenbr0", "uplink": "eno1"}], "confirm_token": "tok2", "confirm_timeout": 20, "settle": 0, "backup_dir": "/run/xenfleet-backup"}' tok2 192.0.2.10
run wrong '{"bridges": [{"name": "xenbr0", "uplink": "eno1", "ipv4": "192.0.2.99/24", "gateway": "192.0.2.1"}], "confirm_token": "tok3", "confirm_timeout": 15, "settle": 0, "backup_dir": "/run/xenfleet-backup"}' tok3 192.0.2.10
echo "--- after the rollback: the bridge file"; cat /etc/network/interfaces.d/xenfleet-bridge-xenbr0
run internal '{"bridges": [{"name": "xenbr0", "uplink": "eno1"}, {"name": "xenint", "type": "internal", "ipv4": "192.168.100.1/24"}], "confirm_token": "tok4", "confirm_timeout": 20, "settle": 0, "backup_dir": "/run/xenfleet-backup"}' tok4 192.0.2.10
run drop-internal '{"bridges": [{"name": "xenbr0", "uplink": "eno1"}], "confirm_token": "tok5", "confirm_timeout": 20, "settle": 0, "backup_dir": "/run/xenfleet-backup"}' tok5 192.0.2.10
# no bridge declared any more: eno1 is left without configuration, the controller loses the host, the host puts
# the bridge back by itself
run remove-all '{"bridges": [], "confirm_token": "tok6", "confirm_timeout": 15, "settle": 0, "backup_dir": "/run/xenfleet-backup"}' tok6 192.0.2.10
kill $SERVER
