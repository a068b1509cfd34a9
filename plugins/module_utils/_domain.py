# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# Desired guest vs its config file vs the live domain: validation, the rendered file, the
# classified differences (live / needs restart), and the transitions (create, shutdown with a
# timeout, destroy, pause, live memory and vCPU changes) that every module uses.
# The first half is pure; the second half runs xl only through the client.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import (
    LIBXL_USERDATA_DIR,
    DomainExistsError,
    DomainNotFoundError,
    HotplugTimeoutError,
    InvalidSpec,
    XenError,
    XlCommandError,
    XlTimeoutError,
    classify_failure,
)

TYPES = ('pv', 'pvh', 'hvm')
ACTIONS = ('destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart', 'soft-reset')
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
SECRET_KEYS = ('vncpasswd',)
# Seconds xl's monitor gets to destroy a domain that shut down before we destroy it ourselves.
MONITOR_GRACE = 10
# How long find_domain reads a domain again while libxl cannot report its configuration (being built,
# or its device model busy) before it gives up.
CONFIG_WAIT = 120
# Seconds before the one more `xl create` after libxl killed a hotplug script at its timeout.
HOTPLUG_RETRY_DELAY = 5


class GuestError(XenError):
    kind = 'guest_error'


class ConfigUnreadableError(XenError):
    kind = 'config_unreadable'


class GuestTimeout(XenError):
    kind = 'timeout'


class GuestRestarted(GuestError):
    """The domain went away or came back under another domid while we changed it."""
    kind = 'guest_restarted'


def restarted_message(name, domid, row, doing):
    now = 'it is gone' if row is None else 'it runs again as domid %d' % row['domid']
    return ('%s restarted while %s (domid %d before; %s): the guest rebooted or crashed, and Xen acted on its '
            'on_reboot/on_crash setting. Look at its console and `xl dmesg` (a "Triple fault" line means the guest '
            'kernel crashed). The change was not recorded in the config file; run again once the guest is up.'
            % (name, doing, domid, now))


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


def has_secret(spec):
    return any(spec.get(k) for k in SECRET_KEYS) and bool(spec.get('vnc'))


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
    """One difference between desired and live. `how` is 'live' or 'restart'."""

    def __init__(self, key, before, after, how, action=None):
        self.key = key
        self.before = before
        self.after = after
        self.how = how
        self.action = action  # xl argv (without `xl`) for live changes

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
            changes.append(Change('vcpus', live['vcpus'], spec['vcpus'], 'live',
                                  vcpu_set_args(name, spec['vcpus'], ignore_host=True)))
        else:
            restart('vcpus', live['vcpus'], spec['vcpus'])
    if spec.get('memory') and live['memory'] is not None and spec['memory'] != live['memory']:
        if spec['memory'] <= (live['maxmem'] or 0) and not any(c.key == 'maxmem' for c in changes):
            changes.append(Change('memory', live['memory'], spec['memory'], 'live', mem_set_args(name, spec['memory'])))
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
                changes.append(Change('disks', None, wanted, 'live', ['block-attach', name, xlcfg.disk_spec(disk)]))
        elif any(current.get(k) not in (None, wanted[k]) for k in ('target', 'format', 'access')) \
                or current.get('cdrom') != wanted['cdrom']:
            changes.append(Change('disks', current, wanted, 'restart'))
    for disk in have:
        if disk['vdev'] not in want_by_vdev:
            if dtype == 'hvm' or disk.get('cdrom'):
                changes.append(Change('disks', disk, None, 'restart'))
            else:
                changes.append(Change('disks', disk, None, 'live', ['block-detach', name, disk['vdev']]))
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
            changes.append(Change('vifs', None, vif, 'live', ['network-attach', name] + xlcfg.vif_spec(vif).split(',')))
    for nic in have[len(want):]:
        if dtype == 'hvm':
            changes.append(Change('vifs', nic, None, 'restart'))
        else:
            changes.append(Change('vifs', nic, None, 'live', ['network-detach', name, str(nic.get('devid'))]))
    return changes


def vcpu_set_args(name, count, ignore_host=False):
    return ['vcpu-set'] + (['--ignore-host'] if ignore_host else []) + [name, str(count)]


def mem_set_args(name, mib):
    return ['mem-set', name, '%dm' % mib]


# --------------------------------------------------------------------------------------------
# Transitions (run xl through the client, re-read, wait with timeouts)
# --------------------------------------------------------------------------------------------

def autostart_entries(name, config_path, autostart_dir):
    """The entries of autostart_dir that start NAME with the host: `<name>.cfg` (a link or a copy)
    and any other link that resolves to config_path. xendomains creates a domain from every file
    there, so each of them counts. Dangling links are left out."""
    if not os.path.isdir(autostart_dir):
        return []
    real = os.path.realpath(config_path)
    found = []
    for entry in sorted(os.listdir(autostart_dir)):
        path = os.path.join(autostart_dir, entry)
        if (entry == '%s.cfg' % name or (os.path.islink(path) and os.path.realpath(path) == real)) \
                and os.path.exists(path):
            found.append(path)
    return found


def autostart_links_to(config_path, entries):
    """Whether one of `entries` is a link to config_path (the guest starts from its managed file)."""
    real = os.path.realpath(config_path)
    return any(os.path.islink(e) and os.path.realpath(e) == real for e in entries)


def _read_domain(client, name):
    found = None
    for dom in client.domains(include_transient=True, include_dying=False):
        if dom['name'] == name:
            found = dom
        elif dom['name'] in (name + '--incoming', name + '--migratedaway'):
            raise GuestError('%s is being live-migrated (%s exists); run again when the migration has ended'
                             % (name, dom['name']))
    return found


def find_domain(client, name, need_config=True, config_wait=None):
    """The live domain NAME (xen_domain_info shape) or None. Fails on a migration in progress,
    and (with need_config) when libxl can report neither its live nor its stored configuration.

    An unreadable configuration is usually a passing state: libxl is still building the domain (xl's
    monitor re-creates a guest that rebooted; libxl stores the configuration once the domain is built)
    or the HVM device model is too busy to answer libxl's query. Seen in the lab when an HVM guest
    rebooted under load: its new domain was listed by `xl list`, left out by `xl list -l`, and had no
    stored configuration yet. So the domain is read again for up to config_wait seconds before giving up.
    """
    found = _read_domain(client, name)
    if not need_config or found is None or found.get('config_source') is not None:
        return found
    config_wait = CONFIG_WAIT if config_wait is None else config_wait
    started = time.time()
    deadline = started + config_wait
    keep = len(client.warnings)   # the first read's warning stays; re-reads would repeat it
    delay = 1.0
    while time.time() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
        found = _read_domain(client, name)
        del client.warnings[keep:]
        if found is None or found.get('config_source') is not None:
            client.warnings.append(
                'waited %.0f s for libxl to report the configuration of %s (it was being built or its device '
                'model did not answer); read it again and used that.' % (time.time() - started, name))
            return found
    raise ConfigUnreadableError(
        '%s (id %d) is running, but libxl could not report its configuration for %d seconds: `xl list -l` '
        'left it out and there is no stored configuration for it in %s. Nothing was changed; acting on an '
        "unknown configuration could restart or re-plug the guest. Check the domain's device model "
        '(qemu-system-i386 -xen-domid %d) and run again.'
        % (name, found['domid'], config_wait, LIBXL_USERDATA_DIR, found['domid']))


# States in which xl's monitor (the `xl create` process that stays with each guest) is about to act:
# it destroys the domain and, for a reboot (or a crash with on_crash=restart), creates it again.
MONITOR_STATES = ('shutdown', 'crashed')


def settle(client, name, live, grace=MONITOR_GRACE, start_timeout=60):
    """Wait for xl's monitor to finish with a domain found shut down or crashed; True when we waited.

    A guest that reboots is shut down (reason reboot) for a moment, then gone, then paused while libxl
    builds the new domain, then running under a new domid (captured: xen-4.17.5-lab-reboot). Acting
    on it meanwhile races the monitor: destroying and re-creating it ourselves made the monitor's own
    create fail ("Domain with name ... already exists", seen in the lab when an HVM guest rebooted
    during a run). The caller re-reads the domain when this returns True. A domain still shut down
    after `grace` seconds (on_reboot/on_poweroff/on_crash = preserve, or no monitor) is left to the
    caller; so is one that stays gone.
    """
    if live is None or live['state'] not in MONITOR_STATES:
        return False
    old = live['domid']
    deadline = time.time() + grace
    delay = 0.2
    seen_gone = False
    while True:
        row = row_of(client, name)
        if row is not None and row['domid'] != old:
            # created again: libxl builds it paused and unpauses it when done
            new = row['domid']
            try:
                wait_for(client, name, lambda r: r is None or r['domid'] != new or is_active(r), start_timeout,
                         'finish its restart')
            except GuestTimeout:
                pass
            client.warnings.append(
                '%s was restarting when this run read it (domain %d shut down, reason %s); waited for xl to '
                'create it again (domain %d) and used that.' % (name, old, live.get('shutdown_reason'), new))
            return True
        if row is None and not seen_gone:
            # destroyed by the monitor: a restart follows within moments, if one is due
            seen_gone = True
            deadline = max(deadline, time.time() + grace)
        if time.time() >= deadline:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def row_of(client, name):
    """`xl list NAME` row, or None when the domain does not exist."""
    try:
        rows = client.list_rows(name)
    except DomainNotFoundError:
        return None
    for row in rows:
        if row['name'] == name:
            return row
    return None


def wait_for(client, name, predicate, timeout, what, domid=None):
    """Poll `xl list NAME` until predicate(row or None) is true; returns the last row.

    With domid, the domain must stay that domain: GuestRestarted when it goes away or is replaced.
    """
    deadline = time.time() + timeout
    delay = 0.2
    while True:
        row = row_of(client, name)
        if domid is not None and (row is None or row['domid'] != domid):
            raise GuestRestarted(restarted_message(name, domid, row, 'waiting for it to %s' % what))
        if predicate(row):
            return row
        if time.time() >= deadline:
            state = parse.state_from_flags(row['flags']) if row else 'gone'
            raise GuestTimeout('%s did not %s within %d seconds (state now: %s)' % (name, what, timeout, state))
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def is_active(row):
    return row is not None and parse.state_from_flags(row['flags']) in ('running', 'blocked')


def _timeout_line(stderr):
    """The line of xl's stderr that names what timed out (else its last line)."""
    lines = (stderr or '').strip().splitlines() or ['']
    return next((line for line in lines if 'because of timeout' in line), lines[-1])


def create(client, name, config_path, paused=False, timeout=60):
    """`xl create FILE` and wait (up to `timeout` s) until the domain runs (or is paused, with paused=True).

    `xl create` itself is bounded by command_timeout like every xl call. On failure, the half-made
    domain that this create built is destroyed by its id, and nothing else (see clean_failed_create).
    """
    args = ['create'] + (['-p'] if paused else []) + [config_path]
    for attempt in (1, 2):
        try:
            client.run(args, mutating=True)
            break
        except XlCommandError as exc:
            exc.msg += clean_failed_create(client, name, exc)
            if attempt == 1 and isinstance(exc, HotplugTimeoutError):
                # libxl killed a device hotplug script (vif-bridge, block) at its timeout and gave up on
                # the domain: a busy dom0, gone a moment later (seen on the lab's loaded TCG dom0s).
                # Nothing of the domain is left; one more create is what an operator would do.
                client.warnings.append(
                    '%s: a device hotplug script outlived libxl\'s timeout and xl gave up on the domain '
                    '(dom0 busy?); created it once more. xl said: %s'
                    % (name, _timeout_line(exc.stderr)))
                time.sleep(HOTPLUG_RETRY_DELAY)
                continue
            raise
    want = ('paused',) if paused else ('running', 'blocked')

    def started(row):
        if row is None:
            raise GuestError('%s disappeared right after `xl create` (check /var/log/xen/xl-%s.log and the guest '
                             'console log)' % (name, name))
        state = parse.state_from_flags(row['flags'])
        if state in ('crashed', 'shutdown', 'dying'):
            raise GuestError('%s is %s right after `xl create`: the guest failed to boot (check '
                             '/var/log/xen/xl-%s.log and its console log)' % (name, state, name))
        return state in want

    return wait_for(client, name, started, timeout, 'start')


def clean_failed_create(client, name, exc):
    """After `xl create` of NAME failed: destroy the domain that this create left half-made, only that one.

    Called with NAME absent before the create (the module read it so, in the host's critical section).
    A domain of that name found now is ours when libxl's messages name its id (libxl names the domain
    it was building); when xl said the name already exists, the domain libxl built is gone and the one
    found belongs to someone else: it is left alone. With no id in xl's output (xl killed, crashed or
    stopped by the timeout) the domain found is the one this create made. It is destroyed by domain id,
    so a domain created meanwhile under the same name is never hit.
    Returns a sentence for the error message ('' when nothing was found).
    """
    leftover = row_of(client, name)
    if leftover is None:
        return ''
    domid = leftover['domid']
    named = parse.libxl_domids(exc.stderr)
    if isinstance(exc, DomainExistsError) or (named and domid not in named):
        return (' A domain %s (id %d) exists now, but it is not the one this run tried to create (xl named %s): '
                'it was left alone.' % (name, domid, ', '.join('id %d' % i for i in named) or 'no id'))
    result = client.run(['destroy', str(domid)], mutating=True, check=False)
    try:
        wait_for(client, name, lambda r: r is None or r['domid'] != domid, 30, 'disappear')
    except GuestTimeout:
        return (' The half-created domain %s (id %d) could not be destroyed (`xl destroy %d`: %s); destroy it by '
                'hand.' % (name, domid, domid, (result.stderr or result.stdout or 'no message').strip()))
    return ' The half-created domain %s (id %d) was destroyed.' % (name, domid)


def shutdown(client, name, timeout, force=False):
    """Gracefully shut NAME down and wait until it is gone; destroy with force=True.

    Returns a list of what was done. A domain left shut down but not destroyed (its xl monitor
    process died) is destroyed: it is already down, destroying only releases it.
    """
    done = []
    row = row_of(client, name)
    if row is None:
        return done
    state = parse.state_from_flags(row['flags'])
    if state == 'paused':
        client.run(['unpause', name], mutating=True)
        done.append('unpause')
    if state in ('shutdown', 'crashed'):
        destroy(client, name)
        return done + ['destroy (was %s)' % state]
    args = ['shutdown', '-w', name]
    try:
        result = client.run(args, mutating=True, timeout=timeout, check=False)
        if result.rc != 0 and 'PV control interface not available' in (result.stderr + result.stdout):
            # HVM guest without PV drivers: send the ACPI power button instead.
            args = ['shutdown', '-F', '-w', name]
            result = client.run(args, mutating=True, timeout=timeout, check=False)
        if result.rc != 0 and row_of(client, name) is not None:
            raise classify_failure(result.cmd, result.rc, result.stdout, result.stderr)
        done.append(' '.join(args[:-1]))
    except XlTimeoutError:
        if not force:
            raise GuestTimeout('%s did not shut down within %d seconds. Set force: true to destroy it, or raise '
                               'shutdown_timeout.' % (name, timeout))
        destroy(client, name)
        return done + ['destroy (shutdown timed out)']
    # xl's monitor process destroys the shut-down domain (on_poweroff=destroy): give it a moment
    try:
        row = wait_for(client, name, lambda r: r is None, MONITOR_GRACE, 'disappear')
    except GuestTimeout:
        row = row_of(client, name)
    if row is not None:
        left = parse.state_from_flags(row['flags'])
        if left in ('shutdown', 'crashed'):
            destroy(client, name)
            done.append('destroy (left %s by xl)' % left)
        elif left != 'dying':
            if not force:
                raise GuestError('%s is still %s after shutdown' % (name, left))
            destroy(client, name)
            done.append('destroy')
        else:
            wait_for(client, name, lambda r: r is None, 30, 'disappear')
    return done


def destroy(client, name):
    """`xl destroy` and wait until the domain is gone.

    A destroy that races with xl's own monitor destroying the domain fails ("Device Model already
    exited", "unable to find domain info"): that is success if the domain is then gone.
    """
    result = client.run(['destroy', name], mutating=True, check=False)
    try:
        wait_for(client, name, lambda r: r is None, 30, 'disappear')
    except GuestTimeout:
        if result.rc != 0:
            raise classify_failure(result.cmd, result.rc, result.stdout, result.stderr)
        raise


def set_paused(client, name, paused):
    """pause/unpause exit 0 even when they fail: re-read and fail if the state is not reached."""
    client.run(['pause' if paused else 'unpause', name], mutating=True)
    row = row_of(client, name)
    state = parse.state_from_flags(row['flags']) if row else 'gone'
    if (state == 'paused') != paused:
        raise GuestError('`xl %s %s` exited 0 but the domain is %s' % ('pause' if paused else 'unpause', name, state))


def set_memory(client, name, mib, domid=None):
    client.run(mem_set_args(name, mib), mutating=True)
    dom = find_domain(client, name)
    if domid is not None and (dom is None or dom['domid'] != domid):
        raise GuestRestarted(restarted_message(name, domid, dom, 'its memory target was set to %d MiB' % mib))
    if dom is None or dom['memory_mb']['target'] != mib:
        raise GuestError('`xl mem-set %s %dm` did not take effect (target now %s MiB)'
                         % (name, mib, dom and dom['memory_mb']['target']))


def set_vcpus(client, name, count, ignore_host=False, timeout=30, domid=None):
    """Set the online vCPU count and wait until the guest has onlined/offlined them.

    With domid (the domain's id before the change), a guest that reboots or crashes meanwhile is
    reported as such (GuestRestarted), not as a guest that did not online its vCPUs.
    """
    client.run(vcpu_set_args(name, count, ignore_host), mutating=True)
    try:
        wait_for(client, name, lambda r: r is not None and r['vcpus'] == count, timeout,
                 'bring its online vCPUs to %d' % count, domid=domid)
    except GuestTimeout as exc:
        raise GuestTimeout('%s. Xen made the vCPUs available, but the guest kernel did not online them: it needs '
                           'CPU hotplug support (CONFIG_HOTPLUG_CPU, and a udev rule or agent that writes 1 to '
                           '/sys/devices/system/cpu/cpuN/online).' % exc.msg)


def apply_live_change(client, change, ignore_host=True, vcpu_timeout=30, domid=None):
    """Carry out one 'live' Change and verify it (on the domain `domid`, when given)."""
    if change.key == 'memory':
        set_memory(client, change.action[1], change.after, domid=domid)
    elif change.key == 'vcpus':
        set_vcpus(client, change.action[-2], change.after, ignore_host=ignore_host, timeout=vcpu_timeout,
                  domid=domid)
    else:
        client.run(change.action, mutating=True)
