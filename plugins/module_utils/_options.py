# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# One declaration per option that more than one module (or a module and a role) share: the
# argument-spec entries, with their choices taken from the pure rooms that own the values. The
# modules build their argument_spec from these; tests check the documentation, the roles'
# argument_specs and the roles' task files against them.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.xenfleet.xen.plugins.module_utils import _domain as dom
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg

# Documented in doc_fragments/xl.py (FILES, AUTOSTART).
DEFAULT_CONFIG_DIR = '/etc/xen'
DEFAULT_AUTOSTART_DIR = '/etc/xen/auto'
CONFIG_DIR = dict(config_dir=dict(type='path', default=DEFAULT_CONFIG_DIR))
AUTOSTART_DIR = dict(autostart_dir=dict(type='path', default=DEFAULT_AUTOSTART_DIR))
# How long a guest gets to online/offline vCPUs after `xl vcpu-set` (xen_domain, xen_vcpu).
VCPU_TIMEOUT = dict(vcpu_timeout=dict(type='int', default=30))


def merged(*specs, **options):
    """One argument spec from shared pieces and a module's own options."""
    result = {}
    for spec in specs:
        result.update(spec)
    result.update(options)
    return result


# Saved guests' memory images (xen_domain state=saved; xen_snapshot refuses a revert while one exists) and how long
# xl save/restore and a start may take.
SAVE_DIR = dict(save_dir=dict(type='path', default='/var/lib/xen/save'))
# Here, not in _snapshot (which uses it), so that a module without snapshots does not import _snapshot and _disk: on a
# dom0 every module_utils file is compiled at each run (tests/unit/test_module_imports.py).
DEFAULT_SNAPSHOT_DIR = '/var/lib/xen/snapshots'
SNAPSHOT_DIR = dict(snapshot_dir=dict(type='path', default=DEFAULT_SNAPSHOT_DIR))
COPY_TIMEOUT = dict(copy_timeout=dict(type='int', default=3600))
SAVE_TIMEOUT = dict(save_timeout=dict(type='int', default=300))
START_TIMEOUT = dict(start_timeout=dict(type='int', default=60))


# -- a guest (xen_domain; the guests role passes each of them per guest) --------------------------

# The guest's declaration: what its config file is rendered from and what is compared with the live
# domain (_domain.validate / settings / compare_live read these keys, GUEST_KEYS).
GUEST = dict(
    name=dict(type='str', required=True),
    type=dict(type='str', default='pv', choices=list(dom.TYPES)),
    memory=dict(type='int'),
    maxmem=dict(type='int'),
    vcpus=dict(type='int'),
    maxvcpus=dict(type='int'),
    cpus=dict(type='str'),
    cpus_soft=dict(type='str'),
    kernel=dict(type='path'),
    ramdisk=dict(type='path'),
    cmdline=dict(type='str'),
    bootloader=dict(type='str'),
    bootloader_args=dict(type='list', elements='str'),
    disks=dict(type='list', elements='dict', options=dict(
        target=dict(type='path'),
        vdev=dict(type='str', required=True),
        format=dict(type='str', default='raw', choices=list(xlcfg.DISK_FORMATS)),
        access=dict(type='str', choices=list(xlcfg.DISK_ACCESS)),
        cdrom=dict(type='bool', default=False),
        backendtype=dict(type='str', choices=list(xlcfg.DISK_BACKENDS)),
    )),
    vifs=dict(type='list', elements='dict', options=dict(
        mac=dict(type='str'),
        bridge=dict(type='str'),
        type=dict(type='str', choices=list(xlcfg.VIF_TYPES)),
        model=dict(type='str'),
        vifname=dict(type='str'),
        script=dict(type='str'),
        ip=dict(type='str'),
        rate=dict(type='str'),
        mtu=dict(type='int'),
        backend=dict(type='str'),
    )),
    firmware=dict(type='str'),
    boot=dict(type='str'),
    vnc=dict(type='bool'),
    vnclisten=dict(type='str'),
    vncdisplay=dict(type='int'),
    vncpasswd=dict(type='str', no_log=True),
    serial=dict(type='str'),
    on_poweroff=dict(type='str', choices=list(dom.ACTIONS)),
    on_reboot=dict(type='str', choices=list(dom.ACTIONS)),
    on_crash=dict(type='str', choices=list(dom.ACTIONS)),
    uuid=dict(type='str'),
    extra=dict(type='dict', default={}),
)
GUEST_KEYS = tuple(GUEST)

# How the declaration is brought about on the host: the state wanted, and the run's own settings.
GUEST_RUN = dict(
    state=dict(type='str', default='present', choices=list(dom.STATES)),
    autostart=dict(type='bool'),
    apply=dict(type='str', default='live', choices=list(dom.APPLY_MODES)),
    force=dict(type='bool', default=False),
    shutdown_timeout=dict(type='int', default=120),
    validate=dict(type='bool', default=True),
    backup=dict(type='bool', default=False),
    discard_saved=dict(type='bool', default=False),
    **merged(SAVE_DIR, SAVE_TIMEOUT, START_TIMEOUT)
)

# xen_domain's own options (the module adds xl_path, command_timeout and lock_timeout: _module.xl_argument_spec).
XEN_DOMAIN = merged(GUEST, GUEST_RUN, VCPU_TIMEOUT, CONFIG_DIR, AUTOSTART_DIR)

# xen_domains: the same guest options per entry of `domains` (each guest may bound its own xl commands with
# command_timeout); the files' directories, the xl command and the host lock are the run's, shared by all guests
# (the module adds xl_path, command_timeout and lock_timeout: _module.xl_argument_spec).
XEN_DOMAINS_ENTRY = merged(GUEST, GUEST_RUN, VCPU_TIMEOUT, dict(command_timeout=dict(type='int')))
XEN_DOMAINS = merged(dict(domains=dict(type='list', elements='dict', required=True, options=XEN_DOMAINS_ENTRY)),
                     CONFIG_DIR, AUTOSTART_DIR)
