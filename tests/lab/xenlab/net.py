"""Loopback ports for labs, and a tiny L2 hub for private links of three or more hosts."""

import os
import random
import selectors
import signal
import socket
import struct
import sys

PORT_RANGE = (20000, 32000)  # below Linux's ephemeral range, so outgoing sockets do not race us


def port_is_free(port, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def allocate_ports(count, reserved=(), is_free=port_is_free, start=None, port_range=PORT_RANGE):
    """Pick count distinct ports in port_range, skipping reserved ones (recorded by other
    labs) and ports that cannot be bound right now. Scans from start (random by default)."""
    lo, hi = port_range
    span = hi - lo
    if start is None:
        start = random.randrange(lo, hi)
    reserved = set(reserved)
    chosen = []
    for i in range(span):
        port = lo + (start - lo + i) % span
        if port in reserved or port in chosen:
            continue
        if is_free(port):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no %d free loopback ports in %d-%d" % (count, lo, hi))


def private_address(index, prefix="192.168.77.", base=10):
    """Private-link address of host index (1-based): 192.168.77.11, .12, ..."""
    if not 1 <= index <= 200:
        raise ValueError("host index out of range: %r" % index)
    return "%s%d" % (prefix, base + index)


# --- hub -----------------------------------------------------------------------------
# QEMU's '-netdev socket,connect=' speaks a stream of frames, each prefixed with its length
# as a 32-bit big-endian integer. A QEMU 'listen' socket takes one peer only, so for three
# or more hosts every QEMU connects to this hub, which repeats each frame to all others.


class _Peer:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""


def split_frames(buf):
    """Return (frames, rest) for a QEMU socket-netdev byte stream."""
    frames = []
    while len(buf) >= 4:
        (n,) = struct.unpack(">I", buf[:4])
        if len(buf) < 4 + n:
            break
        frames.append(buf[4:4 + n])
        buf = buf[4 + n:]
    return frames, buf


def run_hub(port, pidfile=None):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    if pidfile:
        with open(pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    peers = {}
    while True:
        for key, _events in sel.select():
            if key.data is None:
                conn, _addr = srv.accept()
                peers[conn] = _Peer(conn)
                sel.register(conn, selectors.EVENT_READ, peers[conn])
                continue
            peer = key.data
            try:
                data = peer.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(peer.sock)
                peer.sock.close()
                peers.pop(peer.sock, None)
                continue
            frames, peer.buf = split_frames(peer.buf + data)
            for frame in frames:
                msg = struct.pack(">I", len(frame)) + frame
                for other in list(peers.values()):
                    if other is peer:
                        continue
                    try:
                        other.sock.sendall(msg)
                    except OSError:
                        pass
