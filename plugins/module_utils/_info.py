# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The read-only verbs: xen_host_info's facts about the host and xen_domain_info's facts about its
# domains (with their config files and autostart entries, through _files).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

from ansible_collections.xenfleet.xen.plugins.module_utils import _addresses as addr
from ansible_collections.xenfleet.xen.plugins.module_utils import _files as files
from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec, ToolCommandError, ToolMissingError

# The longest CPU measurement window xen_domain_info takes (seconds): a task that sleeps longer is a mistake.
MAX_CPU_SAMPLE = 3600


def host(module, client):
    """xen_host_info's worker: the host's facts from `xl info`, dom0's row and its kernel command line."""
    info = client.info()
    dom0_rows = [row for row in client.list_rows('0') if row['domid'] == 0]
    dom0 = dom0_rows[0] if dom0_rows else None
    cmdline = client.read_file('/proc/cmdline')
    return {'host': parse.host_facts(info, dom0=dom0, dom0_cmdline=cmdline)}


def domains(module, client):
    """xen_domain_info's worker: the domains, each with its config file and autostart facts (and, with
    cpu_sample, the CPU each used over that many seconds)."""
    p = module.params
    if not 0 <= p['cpu_sample'] <= MAX_CPU_SAMPLE:
        raise InvalidSpec('cpu_sample', 'must be 0 (no measurement) or a number of seconds up to %d, got %d'
                          % (MAX_CPU_SAMPLE, p['cpu_sample']))
    usage, window = sample_cpu(client, p['cpu_sample'])
    domains = client.domains(
        names=p['name'], include_dom0=p['include_dom0'], include_stubs=p['include_stub_domains'],
        include_dying=p['include_dying'], include_transient=p['include_migrating'])
    for domain in domains:
        domain['config_file'], domain['autostart'] = config_facts(domain['name'], p['config_dir'],
                                                                  p['autostart_dir'])
    if p['cpu_sample']:
        for domain in domains:
            domain['cpu_percent'] = usage.get(domain['domid'])
    if p['addresses']:
        neighbours = None
        if any(nic.get('mac') for domain in domains for nic in domain.get('nics') or []):
            neighbours = read_neighbours(module, client)
        for domain in domains:
            domain['addresses'] = addr.guest_addresses(domain.get('nics'), neighbours)
    saved = files.saved_images(p['save_dir'], names=p['name'])
    running = set(domain['name'] for domain in domains)
    for entry in saved:
        entry['config_file'], entry['autostart'] = config_facts(entry['name'], p['config_dir'], p['autostart_dir'])
        entry['stale'] = entry['name'] in running
    result = {'domains': domains, 'saved': saved}
    if p['cpu_sample']:
        result['cpu_sample_seconds'] = window
    return result


def sample_cpu(client, seconds):
    """Two `xl list` readings about `seconds` apart -> ({domid: percent of one CPU}, the window measured between
    them in seconds, rounded). Nothing is read when seconds is 0."""
    if not seconds:
        return {}, None
    before = client.list_rows()
    start = time.monotonic()
    time.sleep(seconds)
    after = client.list_rows()
    window = time.monotonic() - start
    return parse.cpu_usage(before, after, window), round(window, 2)


def read_neighbours(module, client):
    """dom0's neighbour table (parsed), or None with a warning when it cannot be read: the addresses are
    then only the declared ones, and the rest of the facts still stand."""
    try:
        return addr.parse_neigh(client.run_tool(hostcmd.ip_neigh()).stdout)
    except (ToolMissingError, ToolCommandError, addr.NeighParseError) as exc:
        module.warn('Guest addresses are only the declared ones: dom0\'s neighbour table could not be read (%s)' % exc)
        return None


def config_facts(name, config_dir, autostart_dir):
    """Path of NAME's config file (or None) and whether an entry of autostart_dir starts it."""
    if not name:
        return None, False
    path = files.config_path(config_dir, name)
    if not os.path.isfile(path):
        return None, False
    return path, bool(files.autostart_entries(name, path, autostart_dir))
