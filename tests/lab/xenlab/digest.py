"""What the kept Xen serial logs of a failed scenario say, in a few lines.

CI prints only the tail of its output and a failure digest; when a scenario fails, the lab's
serial logs (kept under <cache>/logs/<lab>/ by `down`) often hold the reason: a guest that
triple-faulted under TCG, a Xen warning. `xenlab serial-digest` prints the count of guest
triple faults (with the domains) and the last lines Xen printed, without the save/restore
records and register dumps that follow every HVM-container domain build and fault.
"""

import os
import re

from . import paths

_TRIPLE = re.compile(r"\(XEN\) d(\d+)v(\d+) Triple fault")
_NOISE = re.compile(
    r"\(XEN\) (HVM\d* (d\d+(v\d+)? )?(save|restore):"
    r"|\w+:\s+[0-9a-f]+\s+\w+:\s+[0-9a-f]+"    # register dump lines (rax: ... rbx: ..., ds: 0000 es: ...)
    r"|Broke affinity for IRQ|Preparing system for ACPI S5|Disabling non-boot CPUs|Entering ACPI S5"  # `down`
    r"|(CPU|RIP|RFLAGS):\s"
    r"|\*\*\* Dumping Dom\d+ vcpu#\d+ state"
    r"|----\[ Xen-)")


def serial_digest(text, tail=4):
    """Lines summarising one serial log: triple faults first, then Xen's last `tail` lines."""
    lines = [line.strip() for line in text.replace("\r", "").splitlines()]
    out = []
    faults = [(int(m.group(1)), int(m.group(2))) for m in (_TRIPLE.search(line) for line in lines) if m]
    if faults:
        out.append("%d guest triple fault(s) under TCG (%s); docs/lab.md, \"Guest triple faults under TCG\"" % (
            len(faults), ", ".join("d%dv%d" % f for f in faults)))
    xen = [line for line in lines if line.startswith("(XEN)") and not _NOISE.search(line)]
    out.extend(xen[-tail:])
    return out


def recent_logs(prefix, since, root=None):
    """(lab, host, path) of the serial logs kept for labs named PREFIX* and written at or after `since`."""
    root = root or os.path.join(paths.cache_root(), "logs")
    found = []
    try:
        labs = sorted(os.listdir(root))
    except OSError:
        return found
    for lab_name in labs:
        if not lab_name.startswith(prefix):
            continue
        d = os.path.join(root, lab_name)
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else ():
            p = os.path.join(d, f)
            if f.endswith("-serial.log") and os.path.getmtime(p) >= since:
                found.append((lab_name, f[:-len("-serial.log")], p))
    return found


def digest(prefix, since, root=None, tail=4):
    out = []
    for lab_name, host, path in recent_logs(prefix, since, root):
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
        lines = serial_digest(text, tail)
        out.append("%s %s (%s):%s" % (lab_name, host, path, "" if lines else " nothing from Xen"))
        out.extend("  " + line[:300] for line in lines)
    return out
