# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# Pure parsers for xl output. No I/O, no AnsibleModule: every function takes text (or parsed
# data) and returns plain Python structures, so they can be tested with output captured from
# real Xen (tests/unit/fixtures).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import struct


class XlParseError(ValueError):
    """xl printed something this collection cannot read."""


# --------------------------------------------------------------------------------------------
# xl info
# --------------------------------------------------------------------------------------------

INFO_INT_FIELDS = (
    'nr_cpus', 'max_cpu_id', 'nr_nodes', 'cores_per_socket', 'threads_per_core',
    'total_memory', 'free_memory', 'sharing_freed_memory', 'sharing_used_memory',
    'outstanding_claims', 'free_cpus', 'xen_major', 'xen_minor', 'xen_pagesize',
    'xend_config_format',
)

VIRT_CAP_FLAGS = ('pv', 'hvm', 'hap', 'shadow', 'hvm_directio', 'pv_directio', 'iommu_hap_pt_share')


def parse_info(text):
    """Parse `xl info` into a dict of raw string values keyed by field name.

    Lines are `key : value`, split on the first colon. Lines without a colon (the tables that
    `xl info -n` adds) are ignored. Raises XlParseError when no field at all is found.
    """
    info = {}
    for line in text.splitlines():
        if ':' not in line:
            continue
        key, value = line.split(':', 1)
        key = key.strip()
        if not key or not re.match(r'^[a-z_][a-z0-9_]*$', key):
            continue
        info[key] = value.strip()
    if 'xen_major' not in info and 'xen_version' not in info:
        raise XlParseError('`xl info` output has no xen_major/xen_version field')
    return info


def _to_int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_commandline(cmdline):
    """Split a Xen or Linux command line into an ordered dict-like list of (key, value).

    `dom0_mem=1024M,max:1024M` becomes ('dom0_mem', '1024M,max:1024M'); a bare flag such as
    `noreboot` becomes ('noreboot', True). The last occurrence of a key wins in the dict form.
    """
    options = {}
    for word in (cmdline or '').split():
        if '=' in word:
            key, value = word.split('=', 1)
            options[key] = value
        else:
            options[word] = True
    return options


def host_facts(info, dom0=None, dom0_cmdline=None):
    """Turn parsed `xl info` (and dom0's own row from `xl list`) into the host facts we return."""
    caps = info.get('virt_caps', '').split()
    facts = {
        'hostname': info.get('host'),
        'xen_version': info.get('xen_version') or '%s.%s%s' % (
            info.get('xen_major', '?'), info.get('xen_minor', '?'), info.get('xen_extra', '')),
        'xen_major': _to_int(info.get('xen_major')),
        'xen_minor': _to_int(info.get('xen_minor')),
        'xen_extra': info.get('xen_extra', ''),
        'xen_caps': info.get('xen_caps', '').split(),
        'virt_caps': caps,
        'scheduler': info.get('xen_scheduler'),
        'nr_cpus': _to_int(info.get('nr_cpus')),
        'nr_nodes': _to_int(info.get('nr_nodes')),
        'cores_per_socket': _to_int(info.get('cores_per_socket')),
        'threads_per_core': _to_int(info.get('threads_per_core')),
        'cpu_mhz': info.get('cpu_mhz'),
        'total_memory_mb': _to_int(info.get('total_memory')),
        'free_memory_mb': _to_int(info.get('free_memory')),
        'outstanding_claims_mb': _to_int(info.get('outstanding_claims')),
        'xen_commandline': info.get('xen_commandline', ''),
        'xen_commandline_options': parse_commandline(info.get('xen_commandline', '')),
        'dom0_kernel_release': info.get('release'),
        'machine': info.get('machine'),
    }
    for flag in VIRT_CAP_FLAGS:
        facts[flag] = flag in caps
    if dom0_cmdline is not None:
        facts['dom0_commandline'] = dom0_cmdline.strip()
        facts['dom0_commandline_options'] = parse_commandline(dom0_cmdline)
    if dom0 is not None:
        facts['dom0_memory_mb'] = dom0.get('memory_mb')
        facts['dom0_vcpus'] = dom0.get('vcpus')
    return facts


# --------------------------------------------------------------------------------------------
# xl list (table) and state flags
# --------------------------------------------------------------------------------------------

_SHUTDOWN_REASONS = {'-': 'poweroff', 'r': 'reboot', 's': 'suspend', 'c': 'crash', 'w': 'watchdog', 'S': 'soft_reset'}


def parse_list(text):
    """Parse the `xl list` table into a list of rows.

    Each row: name, domid, memory_mb (current allocation), vcpus (online), flags (6 chars),
    cpu_time (seconds). Names may contain spaces only in theory; rsplit keeps them whole.
    """
    rows = []
    lines = text.splitlines()
    for line in lines:
        if not line.strip() or line.startswith('Name'):
            continue
        parts = line.rsplit(None, 5)
        if len(parts) != 6:
            raise XlParseError('unexpected `xl list` row: %r' % line)
        name, domid, mem, vcpus, flags, cpu_time = parts
        try:
            rows.append({
                'name': name.strip(),
                'domid': int(domid),
                'memory_mb': int(mem),
                'vcpus': int(vcpus),
                'flags': flags,
                'cpu_time': float(cpu_time),
            })
        except ValueError:
            raise XlParseError('unexpected `xl list` row: %r' % line)
    return rows


def cpu_usage(rows_before, rows_after, seconds):
    """CPU use of each domain between two `xl list` readings `seconds` apart: {domid: percent of one CPU}
    (V(150) is one and a half busy CPUs), from the growth of its cumulative CPU time. A domain in only one of the
    readings, or under another name (a new domain with a reused id), has no figure; neither has any when
    `seconds` is not positive."""
    if not seconds or seconds <= 0:
        return {}
    before = dict((row['domid'], row) for row in rows_before)
    usage = {}
    for row in rows_after:
        old = before.get(row['domid'])
        if old is None or old['name'] != row['name'] or row['cpu_time'] < old['cpu_time']:
            continue
        usage[row['domid']] = round(100.0 * (row['cpu_time'] - old['cpu_time']) / seconds, 1)
    return usage


def state_from_flags(flags):
    """Map xl's six state characters (`r b p s <reason> d`) to one word.

    dying > crashed > shutdown > paused > running/blocked. A domain that is neither running
    nor blocked at the instant of the read (`------`) is runnable: reported as `running`.
    """
    flags = (flags or '').ljust(6, '-')
    if flags[5] == 'd':
        return 'dying'
    if flags[3] == 's':
        return 'crashed' if flags[4] == 'c' else 'shutdown'
    if flags[2] == 'p':
        return 'paused'
    if flags[1] == 'b':
        return 'blocked'
    return 'running'


def shutdown_reason(flags):
    flags = (flags or '').ljust(6, '-')
    if flags[3] != 's':
        return None
    return _SHUTDOWN_REASONS.get(flags[4], 'unknown')


# --------------------------------------------------------------------------------------------
# xl list -l (JSON)
# --------------------------------------------------------------------------------------------

def parse_list_long(text):
    """Parse `xl list -l` JSON into a list of {'domid': int, 'config': dict}.

    `xl list -l` prints a JSON array (possibly empty). Anything else, including the SXP format
    that `output_format="sxp"` in xl.conf selects, raises XlParseError.
    """
    stripped = (text or '').strip()
    if not stripped:
        return []
    if not stripped.startswith('['):
        raise XlParseError('`xl list -l` did not print JSON (is output_format="sxp" set in /etc/xen/xl.conf?)')
    try:
        data = json.loads(stripped)
    except ValueError as exc:
        raise XlParseError('`xl list -l` printed invalid JSON: %s' % exc)
    if not isinstance(data, list):
        raise XlParseError('`xl list -l` JSON is not an array')
    result = []
    for item in data:
        if not isinstance(item, dict) or 'domid' not in item:
            raise XlParseError('`xl list -l` entry without domid: %r' % (item,))
        result.append({'domid': int(item['domid']), 'config': item.get('config') or {}})
    return result


# --------------------------------------------------------------------------------------------
# xl save images (the file `xl save` writes): the header and the domain configuration in it
# --------------------------------------------------------------------------------------------

# tools/xl: a 32-byte magic, then four uint32 (byte order mark, mandatory flags, optional flags,
# optional data length) in the saving host's byte order; the optional data is a uint32 length and
# that many bytes of the domain's configuration as JSON (NUL-terminated) when mandatory flag JSON is set.
SAVE_MAGIC = b'Xen saved domain, xl format\n \0 \r'
SAVE_BYTEORDER = 0x01020304
SAVE_FLAG_JSON = 1
SAVE_HEADER_LEN = 48


def save_image_header(head):
    """The header of an xl save image from its first bytes: dict with mandatory_flags, optional_flags,
    optional_data_len, byteorder ('little' or 'big') and header_len. XlParseError when it is not one."""
    if len(head) < SAVE_HEADER_LEN or head[:32] != SAVE_MAGIC:
        raise XlParseError('not an xl save image (no "Xen saved domain, xl format" header)')
    for order, prefix in (('little', '<'), ('big', '>')):
        mark, mandatory, optional, optlen = struct.unpack(prefix + '4I', head[32:SAVE_HEADER_LEN])
        if mark == SAVE_BYTEORDER:
            return {'byteorder': order, 'mandatory_flags': mandatory, 'optional_flags': optional,
                    'optional_data_len': optlen, 'header_len': SAVE_HEADER_LEN, 'prefix': prefix}
    raise XlParseError('xl save image with an unknown byte order mark')


def save_image_config(head):
    """The domain configuration (libxl_domain_config, as in `xl list -l`'s "config") stored in an xl
    save image, from the image's first bytes (at least the header and its optional data). None when the
    image carries no configuration; XlParseError when the bytes are not an xl save image or are cut short."""
    header = save_image_header(head)
    if not header['mandatory_flags'] & SAVE_FLAG_JSON:
        return None
    start = header['header_len']
    end = start + header['optional_data_len']
    if len(head) < end or header['optional_data_len'] < 4:
        raise XlParseError('xl save image cut short in its header (%d bytes read, %d needed)' % (len(head), end))
    length = struct.unpack(header['prefix'] + 'I', head[start:start + 4])[0]
    if length > header['optional_data_len'] - 4:
        raise XlParseError('xl save image header names a configuration longer than its optional data')
    data = head[start + 4:start + 4 + length].rstrip(b'\0')
    try:
        config = json.loads(data.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as exc:
        raise XlParseError('the configuration in the xl save image is not JSON: %s' % exc)
    if not isinstance(config, dict):
        raise XlParseError('the configuration in the xl save image is not a JSON object')
    return config


MIGRATION_SUFFIXES = ('--incoming', '--migratedaway')

# libxl prefixes its messages about a domain with "Domain <domid>:" (its LOGD macro), e.g.
# "libxl: error: libxl_create.c:1296:initiate_domain_create: Domain 5:cannot make domain: -6".
_LIBXL_DOMID = re.compile(r'\bDomain (\d+):')


def libxl_domids(text):
    """The domain ids libxl named in its messages (xl's stderr), in order of first mention.

    After a failed `xl create` these are the ids of the domain that create itself was building,
    which is how its clean-up tells its own half-made domain from another one of the same name.
    """
    ids = []
    for match in _LIBXL_DOMID.finditer(text or ''):
        domid = int(match.group(1))
        if domid not in ids:
            ids.append(domid)
    return ids


def is_dom0(name, domid):
    return domid == 0 or name == 'Domain-0'


def is_stub_domain(name):
    return bool(name) and name.endswith('-dm')


def is_dying_placeholder(name):
    return name in ('(null)', '', None)


def is_migration_transient(name):
    return bool(name) and name.endswith(MIGRATION_SUFFIXES)


def _kib_to_mib(value):
    if value is None:
        return None
    try:
        return int(value) // 1024
    except (TypeError, ValueError):
        return None


def _defbool(value):
    if value in ('True', True):
        return True
    if value in ('False', False):
        return False
    return None


def _disk_summary(disk):
    access = None
    if 'readwrite' in disk:
        access = 'rw' if int(disk.get('readwrite') or 0) else 'ro'
    return {
        'target': disk.get('pdev_path'),
        'vdev': disk.get('vdev'),
        'format': disk.get('format'),
        'backend': disk.get('backend'),
        'access': access,
        'cdrom': bool(int(disk.get('is_cdrom') or 0)),
    }


def _nic_summary(nic):
    return {
        'devid': nic.get('devid'),
        'mac': nic.get('mac'),
        'bridge': nic.get('bridge'),
        'ip': nic.get('ip'),
        'script': nic.get('script'),
        'ifname': nic.get('ifname'),
        'model': nic.get('model'),
        'type': nic.get('nictype'),
    }


def pick_stored_config(domid, filenames, read):
    """The configuration libxl stored for domain `domid`, parsed, or None.

    `filenames` lists libxl's userdata directory; the file is userdata-d.<domid>.<uuid>.libxl-json
    and `read(filename)` returns its text (None when unreadable). None when there is no such file,
    more than one (ambiguous), or it is not a JSON object.
    """
    prefix = 'userdata-d.%d.' % domid
    matches = [f for f in filenames if f.startswith(prefix) and f.endswith('.libxl-json')]
    if len(matches) != 1:
        return None
    text = read(matches[0])
    if not text:
        return None
    try:
        # libxl writes the JSON followed by a NUL byte
        data = json.loads(text.rstrip('\x00 \t\r\n'))
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get('c_info'), dict) else None


def domain_summary(domid, config, row=None, source='live'):
    """One domain's facts from its `xl list -l` config and (optionally) its `xl list` row.

    The row carries the live state flags, current memory and online vCPUs; without it state is
    None. xl omits fields equal to their defaults, so every lookup has a default. `source` says
    where the config came from: 'live' (`xl list -l`) or 'stored' (libxl's stored file, when
    `xl list -l` left the domain out).
    """
    c_info = config.get('c_info') or {}
    b_info = config.get('b_info') or {}
    dtype = c_info.get('type') or 'pv'
    type_specific = b_info.get('type.%s' % dtype) or {}
    avail = b_info.get('avail_vcpus')
    max_vcpus = b_info.get('max_vcpus')
    summary = {
        'name': c_info.get('name') or (row or {}).get('name'),
        'domid': domid,
        'uuid': c_info.get('uuid'),
        'type': dtype,
        'state': None,
        'shutdown_reason': None,
        'flags': None,
        'vcpus': {
            'online': len(avail) if isinstance(avail, list) else None,
            'max': max_vcpus,
        },
        'memory_mb': {
            'current': None,
            'target': _kib_to_mib(b_info.get('target_memkb')),
            'max': _kib_to_mib(b_info.get('max_memkb')),
        },
        'kernel': b_info.get('kernel') or type_specific.get('kernel'),
        'ramdisk': b_info.get('ramdisk') or type_specific.get('ramdisk'),
        'cmdline': b_info.get('cmdline') or type_specific.get('cmdline'),
        'bootloader': b_info.get('bootloader') or type_specific.get('bootloader'),
        'scheduler': dict(b_info.get('sched_params') or {}),
        'disks': [_disk_summary(d) for d in config.get('disks') or []],
        'nics': [_nic_summary(n) for n in config.get('nics') or []],
        'pci_devices': len(config.get('pcidevs') or []),
        'on_poweroff': config.get('on_poweroff', 'destroy'),
        'on_reboot': config.get('on_reboot', 'restart'),
        'on_crash': config.get('on_crash', 'destroy'),
        'config_source': source,
    }
    if row is not None:
        summary['state'] = state_from_flags(row['flags'])
        summary['shutdown_reason'] = shutdown_reason(row['flags'])
        summary['flags'] = row['flags']
        summary['memory_mb']['current'] = row['memory_mb']
        summary['vcpus']['online'] = row['vcpus']
        if max_vcpus is None and dtype == 'pv' and domid == 0:
            summary['vcpus']['max'] = row['vcpus']
    return summary


def merge_domains(long_entries, rows, include_dom0=False, include_stubs=False,
                  include_dying=False, include_transient=False):
    """Join `xl list -l` entries with `xl list` rows (by domid) and apply the filters.

    An entry may carry 'source': 'stored' (see domain_summary). A domain that is only in the
    table (dying `(null)` domains, domains whose config libxl could not read) is reported from its
    row alone, with type None and config_source None, when included.
    """
    rows_by_id = dict((r['domid'], r) for r in rows)
    seen = set()
    result = []
    for entry in long_entries:
        domid = entry['domid']
        seen.add(domid)
        summary = domain_summary(domid, entry['config'], rows_by_id.get(domid), entry.get('source', 'live'))
        result.append(summary)
    for row in rows:
        if row['domid'] in seen:
            continue
        result.append({
            'name': row['name'], 'domid': row['domid'], 'uuid': None, 'type': None,
            'state': state_from_flags(row['flags']), 'shutdown_reason': shutdown_reason(row['flags']),
            'flags': row['flags'],
            'vcpus': {'online': row['vcpus'], 'max': None},
            'memory_mb': {'current': row['memory_mb'], 'target': None, 'max': None},
            'kernel': None, 'ramdisk': None, 'cmdline': None, 'bootloader': None,
            'scheduler': {}, 'disks': [], 'nics': [], 'pci_devices': 0,
            'on_poweroff': None, 'on_reboot': None, 'on_crash': None, 'config_source': None,
        })
    filtered = []
    for dom in result:
        name, domid = dom['name'], dom['domid']
        if is_dom0(name, domid):
            if include_dom0:
                filtered.append(dom)
            continue
        if is_dying_placeholder(name) or dom['state'] == 'dying':
            if include_dying:
                filtered.append(dom)
            continue
        if is_stub_domain(name) and not include_stubs:
            continue
        if is_migration_transient(name) and not include_transient:
            continue
        filtered.append(dom)
    filtered.sort(key=lambda d: d['domid'])
    return filtered


# --------------------------------------------------------------------------------------------
# xl vcpu-list
# --------------------------------------------------------------------------------------------

def parse_vcpu_list(text):
    """Parse `xl vcpu-list` into rows: name, domid, vcpu, cpu (None when offline), state, time,
    hard and soft affinity strings (`all`, `none`, `2-3,5`)."""
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith('Name'):
            continue
        head, sep, affinity = line.rpartition(' / ')
        if not sep:
            raise XlParseError('unexpected `xl vcpu-list` row: %r' % line)
        parts = head.rsplit(None, 6)
        if len(parts) != 7:
            raise XlParseError('unexpected `xl vcpu-list` row: %r' % line)
        name, domid, vcpu, cpu, state, cpu_time, hard = parts
        try:
            rows.append({
                'name': name.strip(),
                'domid': int(domid),
                'vcpu': int(vcpu),
                'cpu': None if cpu == '-' else int(cpu),
                'state': state,
                'online': 'p' not in state or cpu != '-',
                'cpu_time': float(cpu_time),
                'hard_affinity': hard,
                'soft_affinity': affinity.strip(),
            })
        except ValueError:
            raise XlParseError('unexpected `xl vcpu-list` row: %r' % line)
    return rows


# --------------------------------------------------------------------------------------------
# CPU lists (xl's cpulist syntax: `all`, `none`, `2-3,5`, `^1`, `nodes:0-1`, `node:0`)
# --------------------------------------------------------------------------------------------

def parse_cpulist(text, nr_cpus, node_cpus=None):
    """The set of physical CPU numbers `text` selects on a host with `nr_cpus` CPUs.

    Follows xl's rules: comma-separated items, each a CPU, a range `a-b`, `all`, or a node
    `node:N` / `nodes:a-b` (needs `node_cpus`, a dict node -> set of CPUs); an item starting
    with `^` removes its CPUs. A list of only exclusions starts from all CPUs. Raises ValueError
    with the reason for anything else, including CPUs the host does not have.

    With nr_cpus=None only the syntax is checked (no host facts: any CPU or node number is taken)
    and the result is empty; cpulist_problem() is that check.
    """
    text = str(text).strip()
    if text in ('all', ''):
        return frozenset(range(nr_cpus or 0))
    if text == 'none':
        return frozenset()
    selected = set()
    items = [i.strip() for i in text.split(',') if i.strip()]
    if items and all(i.startswith('^') for i in items):
        selected = set(range(nr_cpus or 0))
    for item in items:
        exclude = item.startswith('^')
        body = item[1:] if exclude else item
        cpus = _cpulist_item(body, nr_cpus, node_cpus)
        if exclude:
            selected -= cpus
        else:
            selected |= cpus
    return frozenset(selected)


def cpulist_problem(text):
    """Why `text` is not a CPU list in xl's syntax (parse_cpulist's grammar, no host facts), or None."""
    try:
        parse_cpulist(text, None)
    except ValueError as exc:
        return str(exc)
    return None


def _cpulist_item(body, nr_cpus, node_cpus):
    if body == 'all':
        return set(range(nr_cpus or 0))
    if body.startswith(('node:', 'nodes:')):
        spec = body.split(':', 1)[1]
        nodes = _range_set(spec, None, 'node')
        if nr_cpus is None:
            return set()  # syntax only
        if node_cpus is None:
            raise ValueError('%r needs the host NUMA topology' % body)
        result = set()
        for node in nodes:
            if node not in node_cpus:
                raise ValueError('node %d does not exist on this host (nodes: %s)'
                                 % (node, ', '.join(str(n) for n in sorted(node_cpus))))
            result |= set(node_cpus[node])
        return result
    return _range_set(body, nr_cpus, 'CPU')


def _range_set(spec, limit, what):
    if '-' in spec:
        first, _sep, last = spec.partition('-')
    else:
        first = last = spec
    if not first.isdigit() or not last.isdigit():
        raise ValueError('%r is not a %s number or range' % (spec, what))
    first, last = int(first), int(last)
    if first > last:
        raise ValueError('%r is an empty range' % spec)
    if limit is not None and last >= limit:
        raise ValueError('%s %d does not exist on this host (it has %d: 0-%d)' % (what, last, limit, limit - 1))
    return set(range(first, last + 1))


def format_cpuset(cpus, nr_cpus):
    """A CPU set in xl's compact syntax: `all`, `none`, or ranges like `0-2,5`."""
    cpus = sorted(cpus)
    if len(cpus) == nr_cpus and cpus == list(range(nr_cpus)):
        return 'all'
    if not cpus:
        return 'none'
    parts = []
    start = prev = cpus[0]
    for cpu in cpus[1:] + [None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        parts.append('%d' % start if start == prev else '%d-%d' % (start, prev))
        if cpu is not None:
            start = prev = cpu
    return ','.join(parts)
