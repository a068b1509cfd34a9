# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The desired guest: validation of a guest declaration, the config file rendered from it, and its
# differences with the live domain, classified (live / needs restart) as intents (Change).
# Pure: no I/O. The verbs that act on a live domain are in _lifecycle.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec

TYPES = ('pv', 'pvh', 'hvm')
ACTIONS = ('destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart', 'soft-reset')
# The states a guest can be declared in, and how changes reach a running guest (xen_domain's state, apply).
STATES = ('present', 'running', 'paused', 'saved', 'shutdown', 'absent')
APPLY_MODES = ('live', 'restart', 'next_boot')
# Xen's limits on vCPUs per guest type (HVM 128 with x2APIC; PV/PVH far higher in Xen 4.x,
# but the guest kernel and libxl cap them: keep to values Xen 4.17 accepts).
MAX_VCPUS = {'pv': 512, 'pvh': 128, 'hvm': 128}
HEADER = ('Managed by Ansible (xenfleet.xen.xen_domain): manual edits are overwritten.\n'
          'Edit the playbook instead.')

# Keys rendered from module options, in file order. `extra` keys come after, sorted.
MODELLED_KEYS = (
    'name', 'uuid', 'type', 'memory', 'maxmem', 'vcpus', 'maxvcpus', 'cpus', 'cpus_soft',
    'kernel', 'ramdisk', 'cmdline', 'bootloader', 'bootloader_args', 'firmware', 'boot',
    'vnc', 'vnclisten', 'vncdisplay', 'vncpasswd', 'serial', 'disk', 'vif',
    'on_poweroff', 'on_reboot', 'on_crash',
)
# Keys whose change needs the domain re-created, when they cannot be compared with the live
# domain directly (they are compared file-before vs file-after instead).
FILE_ONLY_RESTART_KEYS = ('uuid', 'bootloader_args', 'firmware', 'boot', 'vnc', 'vnclisten', 'vncdisplay',
                          'vncpasswd', 'serial')
SECRET_KEYS = xlcfg.SECRET_KEYS


# --------------------------------------------------------------------------------------------
# Pure: desired spec, validation, rendering
# --------------------------------------------------------------------------------------------

def normalize_disks(disks):
    result = []
    for disk in disks or []:
        item = dict((k, v) for k, v in disk.items() if v is not None)
        item.setdefault('format', 'raw')
        item['cdrom'] = bool(item.get('cdrom'))
        item.setdefault('access', 'ro' if item['cdrom'] else 'rw')
        result.append(item)
    return result


def normalize_vifs(vifs):
    result = []
    for vif in vifs or []:
        item = dict((k, v) for k, v in vif.items() if v is not None and v != '')
        if 'mac' in item:
            item['mac'] = str(item['mac']).lower()
        result.append(item)
    return result


def validate(spec, host=None, path_exists=None):
    """Raise InvalidSpec for the first problem in the desired guest `spec` (module params).

    `host` (facts from xl info, optional) enables the host checks: memory the host can never
    give, HVM/PVH without hardware virtualization. `path_exists(path)` checks files on the host.
    """
    problem = xlcfg.name_problem(spec['name'])
    if problem:
        raise InvalidSpec('name', '%r %s' % (spec['name'], problem))
    dtype = spec.get('type') or 'pv'
    if dtype not in TYPES:
        raise InvalidSpec('type', '%r is not one of pv, pvh, hvm' % dtype)
    for key in ('memory', 'maxmem', 'vcpus', 'maxvcpus'):
        value = spec.get(key)
        if value is not None and value < 1:
            raise InvalidSpec(key, 'must be at least 1, got %s' % value)
    if spec.get('memory') is not None and spec.get('memory') < 16:
        raise InvalidSpec('memory', 'must be at least 16 MiB, got %s' % spec['memory'])
    if spec.get('vcpus') and spec.get('maxvcpus') and spec['vcpus'] > spec['maxvcpus']:
        raise InvalidSpec('vcpus', '%d is more than maxvcpus (%d); raise maxvcpus or lower vcpus'
                          % (spec['vcpus'], spec['maxvcpus']))
    limit = MAX_VCPUS[dtype]
    for key in ('vcpus', 'maxvcpus'):
        if spec.get(key) and spec[key] > limit:
            raise InvalidSpec(key, '%d is more than Xen allows for a %s guest (%d)' % (spec[key], dtype, limit))
    if spec.get('memory') and spec.get('maxmem') and spec['memory'] > spec['maxmem']:
        raise InvalidSpec('memory', '%d MiB is more than maxmem (%d MiB); raise maxmem or lower memory'
                          % (spec['memory'], spec['maxmem']))
    if spec.get('kernel') and spec.get('bootloader'):
        raise InvalidSpec('kernel', 'set either kernel (direct boot) or bootloader, not both')
    if dtype in ('pv', 'pvh') and not spec.get('kernel') and not spec.get('bootloader'):
        raise InvalidSpec('kernel', 'a %s guest needs kernel (direct boot) or bootloader (e.g. pygrub)' % dtype)
    if dtype != 'hvm':
        for key in ('firmware', 'boot', 'vnc', 'vnclisten', 'vncdisplay', 'vncpasswd', 'serial'):
            if spec.get(key) not in (None, False):
                raise InvalidSpec(key, 'is an HVM option; this guest has type %s' % dtype)
    for key in ('ramdisk', 'cmdline'):
        if spec.get(key) and not spec.get('kernel'):
            raise InvalidSpec(key, 'needs kernel (direct boot)')
    for key in ('on_poweroff', 'on_reboot', 'on_crash'):
        if spec.get(key) and spec[key] not in ACTIONS:
            raise InvalidSpec(key, '%r is not one of %s' % (spec[key], ', '.join(ACTIONS)))
    vdevs = set()
    for index, disk in enumerate(spec.get('disks') or []):
        problem = xlcfg.disk_problem(disk)
        if problem:
            raise InvalidSpec('disks[%d]' % index, problem)
        if disk['vdev'] in vdevs:
            raise InvalidSpec('disks[%d]' % index, 'vdev %s is used twice' % disk['vdev'])
        vdevs.add(disk['vdev'])
    macs = set()
    for index, vif in enumerate(spec.get('vifs') or []):
        problem = xlcfg.vif_problem(vif)
        if problem:
            raise InvalidSpec('vifs[%d]' % index, problem)
        mac = (vif.get('mac') or '').lower()
        if mac and mac in macs:
            raise InvalidSpec('vifs[%d]' % index, 'mac %s is used twice' % mac)
        macs.add(mac)
    for key, value in (spec.get('extra') or {}).items():
        if key in MODELLED_KEYS or key in ('disks', 'vifs'):
            raise InvalidSpec('extra', '%r is an option of this module; set it there, not in extra' % key)
        if not xlcfg.KEY_RE.match(key):
            raise InvalidSpec('extra', '%r is not an xl.cfg key' % key)
        if not _extra_value_ok(value):
            raise InvalidSpec('extra', 'the value of %r must be a string, a number, a boolean or a list of '
                                       'strings and numbers' % key)
        try:
            xlcfg.render_value(value)
        except xlcfg.XlConfigError as exc:
            raise InvalidSpec('extra', '%s: %s' % (key, exc))
    for key in ('kernel', 'ramdisk', 'cmdline', 'bootloader', 'vnclisten', 'vncpasswd', 'serial', 'cpus', 'cpus_soft'):
        value = spec.get(key)
        if isinstance(value, str):
            try:
                xlcfg.quote(value)
            except xlcfg.XlConfigError as exc:
                raise InvalidSpec(key, str(exc))
    for key in ('cpus', 'cpus_soft'):
        if spec.get(key) is not None:
            problem = parse.cpulist_problem(spec[key])
            if problem:
                raise InvalidSpec(key, '%r is not a CPU list in xl\'s syntax (%s); write for example all, 0-3,5, '
                                       '^1 or nodes:0' % (spec[key], problem))
    if spec.get('vnclisten') is not None:
        problem = xlcfg.vnclisten_problem(spec['vnclisten'])
        if problem:
            raise InvalidSpec('vnclisten', problem)
    if host is not None:
        total = host.get('total_memory_mb')
        for key in ('memory', 'maxmem'):
            if spec.get(key) and total and spec[key] > total:
                raise InvalidSpec(key, '%d MiB is more than this host has in total (%d MiB)' % (spec[key], total))
        if dtype in ('hvm', 'pvh') and not host.get('hvm'):
            raise InvalidSpec('type', '%s guests need hardware virtualization (Intel VT-x or AMD-V), but this '
                                      "host's Xen reports virt_caps: %s" % (dtype, ' '.join(host.get('virt_caps') or [])))
    if path_exists is not None:
        for key in ('kernel', 'ramdisk'):
            if spec.get(key) and not path_exists(spec[key]):
                raise InvalidSpec(key, '%s does not exist on the Xen host' % spec[key])
        for index, disk in enumerate(spec.get('disks') or []):
            if disk.get('target') and not path_exists(disk['target']):
                raise InvalidSpec('disks[%d]' % index, 'target %s does not exist on the Xen host (this module '
                                                       'never creates or deletes disks)' % disk['target'])


def _extra_value_ok(value):
    if isinstance(value, (str, int, bool)):
        return True
    if isinstance(value, list):
        return all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value)
    return False


def settings(spec):
    """The ordered (key, value) list of the config file for `spec` (module params)."""
    vnc = spec.get('vnc')
    values = {
        'name': spec['name'],
        'uuid': spec.get('uuid'),
        'type': spec.get('type') or 'pv',
        'memory': spec.get('memory'),
        'maxmem': spec.get('maxmem'),
        'vcpus': spec.get('vcpus'),
        'maxvcpus': spec.get('maxvcpus'),
        'cpus': spec.get('cpus'),
        'cpus_soft': spec.get('cpus_soft'),
        'kernel': spec.get('kernel'),
        'ramdisk': spec.get('ramdisk'),
        'cmdline': spec.get('cmdline'),
        'bootloader': spec.get('bootloader'),
        'bootloader_args': spec.get('bootloader_args'),
        'firmware': spec.get('firmware'),
        'boot': spec.get('boot'),
        'vnc': None if vnc is None else bool(vnc),
        'vnclisten': spec.get('vnclisten') if vnc else None,
        'vncdisplay': spec.get('vncdisplay') if vnc else None,
        'vncpasswd': spec.get('vncpasswd') if vnc else None,
        'serial': spec.get('serial'),
        'disk': [xlcfg.disk_spec(d) for d in normalize_disks(spec.get('disks'))] or None,
        'vif': [xlcfg.vif_spec(v) for v in normalize_vifs(spec.get('vifs'))] or None,
        'on_poweroff': spec.get('on_poweroff'),
        'on_reboot': spec.get('on_reboot'),
        'on_crash': spec.get('on_crash'),
    }
    result = [(key, values[key]) for key in MODELLED_KEYS]
    for key in sorted(spec.get('extra') or {}):
        result.append((key, spec['extra'][key]))
    return result


# Keys xen_vcpu persists. xen_domain keeps them from the existing file when its own options
# leave them unset, so the two modules do not undo each other.
VCPU_OWNED_KEYS = ('vcpus', 'cpus', 'cpus_soft')
VCPU_OWNED_EXTRA_KEYS = ('cpu_weight', 'cap')


def preserve_vcpu_keys(spec, file_before):
    """The spec to render: `spec` plus the xen_vcpu-owned keys it leaves unset, from the old file."""
    if not file_before:
        return spec
    try:
        before = xlcfg.parse(file_before)
    except xlcfg.XlConfigError:
        return spec
    result = dict(spec)
    for key in VCPU_OWNED_KEYS:
        if result.get(key) is None and key in before:
            result[key] = before[key]
    extra = dict(result.get('extra') or {})
    for key in VCPU_OWNED_EXTRA_KEYS:
        if key not in extra and key in before:
            extra[key] = before[key]
    result['extra'] = extra
    return result


def render_config(spec):
    return xlcfg.render(settings(spec), header=HEADER)


def redact(text):
    """Config text with secret values replaced, for diffs and logs."""
    if text is None:
        return None
    lines = []
    for line in text.splitlines(True):
        key = line.split('=', 1)[0].strip()
        if key in SECRET_KEYS:
            line = '%s = "********"\n' % key
        lines.append(line)
    return ''.join(lines)


# --------------------------------------------------------------------------------------------
# Pure: compare desired with the live domain
# --------------------------------------------------------------------------------------------

def live_view(summary):
    """The comparable values of a live domain from its xen_domain_info-shaped summary."""
    return {
        'type': summary.get('type'),
        'memory': summary['memory_mb'].get('target'),
        'maxmem': summary['memory_mb'].get('max'),
        'vcpus': summary['vcpus'].get('online'),
        'maxvcpus': summary['vcpus'].get('max'),
        'kernel': summary.get('kernel'),
        'ramdisk': summary.get('ramdisk'),
        'cmdline': summary.get('cmdline'),
        'bootloader': summary.get('bootloader'),
        'on_poweroff': summary.get('on_poweroff'),
        'on_reboot': summary.get('on_reboot'),
        'on_crash': summary.get('on_crash'),
        'disks': [dict((k, d.get(k)) for k in ('target', 'vdev', 'format', 'access', 'cdrom'))
                  for d in summary.get('disks') or []],
        'nics': summary.get('nics') or [],
    }


class Change(object):
    """One difference between desired and live: what to set, not how (the verbs in _lifecycle turn a
    live change into its xl call). `how` is 'live' or 'restart'. For a device plugged or unplugged
    live, `after` (plug) or `before` (unplug) is the device; `device` is the whole desired device
    (a plug needs all of it, `after` shows only what is compared)."""

    def __init__(self, key, before, after, how, device=None):
        self.key = key
        self.before = before
        self.after = after
        self.how = how
        self.device = device

    def as_dict(self):
        return {'key': self.key, 'before': self.before, 'after': self.after, 'how': self.how}

    def __repr__(self):
        return 'Change(%r, %r -> %r, %s)' % (self.key, self.before, self.after, self.how)


def _vif_matches(want, have):
    for key, value in want.items():
        have_value = have.get(key)
        if key == 'mac' and have_value:
            have_value = have_value.lower()
        if str(have_value) != str(value):
            return False
    return True


def compare_live(spec, summary, file_before=None, file_after=None):
    """Classify every difference between `spec` and the live domain `summary`.

    Returns a list of Change. Only what the user set is compared (None means: xl's default,
    not managed live). Keys that xl list -l cannot show are compared file-before vs file-after
    (a change there needs a restart, because the running domain was made from the old file).
    """
    name = spec['name']
    live = live_view(summary)
    dtype = spec.get('type') or 'pv'
    changes = []

    def restart(key, before, after):
        changes.append(Change(key, before, after, 'restart'))

    if live['type'] and live['type'] != dtype:
        restart('type', live['type'], dtype)
    want_maxvcpus = spec.get('maxvcpus') or spec.get('vcpus')
    if want_maxvcpus and live['maxvcpus'] and want_maxvcpus != live['maxvcpus']:
        restart('maxvcpus', live['maxvcpus'], want_maxvcpus)
    want_maxmem = spec.get('maxmem') or spec.get('memory')
    if want_maxmem and live['maxmem'] and want_maxmem != live['maxmem']:
        restart('maxmem', live['maxmem'], want_maxmem)
    for key in ('kernel', 'ramdisk', 'cmdline', 'bootloader', 'on_poweroff', 'on_reboot', 'on_crash'):
        want = spec.get(key)
        if want is not None and want != live[key]:
            restart(key, live[key], want)
    live_max_vcpus = live['maxvcpus'] or 0
    if spec.get('vcpus') and live['vcpus'] is not None and spec['vcpus'] != live['vcpus']:
        if spec['vcpus'] <= live_max_vcpus and (dtype != 'hvm' or spec['vcpus'] > live['vcpus']):
            changes.append(Change('vcpus', live['vcpus'], spec['vcpus'], 'live'))
        else:
            restart('vcpus', live['vcpus'], spec['vcpus'])
    if spec.get('memory') and live['memory'] is not None and spec['memory'] != live['memory']:
        if spec['memory'] <= (live['maxmem'] or 0) and not any(c.key == 'maxmem' for c in changes):
            changes.append(Change('memory', live['memory'], spec['memory'], 'live'))
        else:
            restart('memory', live['memory'], spec['memory'])
    if spec.get('disks') is not None:
        changes.extend(_compare_disks(name, dtype, normalize_disks(spec['disks']), live['disks']))
    if spec.get('vifs') is not None:
        changes.extend(_compare_vifs(name, dtype, normalize_vifs(spec['vifs']), live['nics']))
    if file_before is not None and file_after is not None:
        try:
            before = xlcfg.parse(file_before)
        except xlcfg.XlConfigError:
            before = {}
        after = xlcfg.parse(file_after)
        for key in FILE_ONLY_RESTART_KEYS + tuple(sorted(set(before) | set(after))):
            if key in MODELLED_KEYS and key not in FILE_ONLY_RESTART_KEYS:
                continue
            if key in [c.key for c in changes]:
                continue
            if before.get(key) != after.get(key):
                shown = ('********', '********') if key in SECRET_KEYS else (before.get(key), after.get(key))
                restart(key, shown[0], shown[1])
    return changes


def _compare_disks(name, dtype, want, have):
    changes = []
    have_by_vdev = dict((d['vdev'], d) for d in have)
    want_by_vdev = dict((d['vdev'], d) for d in want)
    for disk in want:
        current = have_by_vdev.get(disk['vdev'])
        wanted = dict((k, disk.get(k)) for k in ('target', 'vdev', 'format', 'access', 'cdrom'))
        if current is None:
            if dtype == 'hvm' or disk['cdrom']:
                changes.append(Change('disks', None, wanted, 'restart'))
            else:
                changes.append(Change('disks', None, wanted, 'live', device=disk))
        elif any(current.get(k) not in (None, wanted[k]) for k in ('target', 'format', 'access')) \
                or current.get('cdrom') != wanted['cdrom']:
            changes.append(Change('disks', current, wanted, 'restart'))
    for disk in have:
        if disk['vdev'] not in want_by_vdev:
            if dtype == 'hvm' or disk.get('cdrom'):
                changes.append(Change('disks', disk, None, 'restart'))
            else:
                changes.append(Change('disks', disk, None, 'live', device=disk))
    return changes


def _compare_vifs(name, dtype, want, have):
    changes = []
    for index, vif in enumerate(want):
        if index < len(have):
            if not _vif_matches(vif, have[index]):
                changes.append(Change('vifs', have[index], vif, 'restart'))
        elif dtype == 'hvm':
            changes.append(Change('vifs', None, vif, 'restart'))
        else:
            changes.append(Change('vifs', None, vif, 'live', device=vif))
    for nic in have[len(want):]:
        if dtype == 'hvm':
            changes.append(Change('vifs', nic, None, 'restart'))
        else:
            changes.append(Change('vifs', nic, None, 'live', device=nic))
    return changes
