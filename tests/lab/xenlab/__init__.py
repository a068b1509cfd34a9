"""xenlab: nested Xen hosts under QEMU for the xenfleet.xen tests (stdlib only)."""

__version__ = "0.1.0"
