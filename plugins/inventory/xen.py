# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
name: xen
short_description: The guests of Xen dom0s, asked over SSH with xl
version_added: 1.0.0
description:
  - Makes every guest (domU) of a set of Xen dom0s an inventory host, with facts under the prefix C(xen_),
    groups per dom0, per state and per type, C(ansible_host) from the addresses the dom0 knows and, for
    guests on an internal bridge, an SSH jump through their dom0.
  - Each dom0 is asked once per build, in parallel (O(max_workers) at a time). One C(ssh) to the dom0 runs a
    small POSIX sh script that prints C(xl list -l), C(xl list), C(ip -json neigh show) (the dom0's
    neighbour table) and the ports of each bridge. No Python is needed on the dom0s.
  - SSH runs with C(BatchMode=yes) and host-key checking as the user's C(~/.ssh/config) and C(known_hosts)
    say, never turned off. A dom0 must be reachable with a key, without a password or a question.
    The ssh user must be allowed to run C(xl) (root).
  - A guest's C(ansible_host) is its first address declared in a vif (C(ip=)), else an IPv4 address, else a
    global IPv6 address that the dom0's neighbour table maps to one of the guest's MAC addresses (a guest
    that has not talked to its dom0 lately has none; it then gets no C(ansible_host)). Link-local addresses
    are never used.
  - A guest seen on two dom0s at once (a live migration in flight, where xl names one copy
    C(NAME--incoming) or C(NAME--migratedaway)) is one host, with a warning.
  - Configuration files must end in C(.xen.yml) or C(.xen.yaml).
author:
  - xenfleet.xen maintainers (@xenfleet)
requirements:
  - The OpenSSH client (C(ssh)) on the controller.
  - On each dom0, C(xl), C(ip) (iproute2) and a POSIX C(sh), reachable by the ssh user.
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; it must be V(xenfleet.xen.xen) for the file to be read by it.
    type: str
    required: true
    choices: [xenfleet.xen.xen]
  hosts:
    description:
      - The dom0s to ask. Each item is a name (an ssh host name, address or C(~/.ssh/config) alias) or a
        dictionary with C(name) (required; the dom0's name in groups and facts), C(address) (where ssh connects;
        default the name), C(port) and C(user) (default what C(~/.ssh/config) says), C(private_key_file) (the key
        ssh offers) and C(ssh_args) (a string of C(-o OPTION), C(-J JUMP) and C(-i FILE) words, as in
        C(ansible_ssh_common_args); other words are refused).
      - Combined with the members of O(dom0_group); at least one dom0 must come from the two.
    type: list
    elements: raw
    default: []
  dom0_group:
    description:
      - The name of a group whose members are the dom0s to ask, defined by an inventory source read B(before)
        this one (for example C(xen_hosts) in a static inventory file; C(ansible-inventory -i hosts.ini -i xen.xen.yml),
        or both files in one inventory directory, read in alphabetical order).
      - Each member is reached as Ansible reaches it, at its C(ansible_host), C(ansible_port) and C(ansible_user),
        with the key in C(ansible_ssh_private_key_file) (or C(ansible_private_key_file)) and the C(-o OPTION),
        C(-J JUMP) and C(-i FILE) words of C(ansible_ssh_common_args) and C(ansible_ssh_extra_args); any other
        word there is refused, naming the host and the variable (put such settings in C(~/.ssh/config)).
      - These variables are read as that inventory sets them (host or group variables of the inventory itself;
        C(host_vars)/C(group_vars) directories and templates in these variables are not read at this stage).
    type: str
  hostname_template:
    description:
      - The inventory name of a guest, a Jinja2 template over the guest's facts (C(xen_*)) and C(name) (the
        domain's name).
      - When not set, a guest's inventory name is its domain's name (as with V({{ name }})).
      - Use for example V({{ name }}.{{ xen_dom0 }}) when guests of different dom0s share names. Two guests that
        get the same name are reported once, with a warning (an error with O(strict=true)).
    type: str
  filters:
    description:
      - Jinja2 conditions, evaluated per guest over the same variables as O(hostname_template); a guest is in
        the inventory only when all are true (for example V(xen_state == 'running')).
      - A condition that cannot be evaluated for a guest leaves the guest out, with a warning (an error with
        O(strict=true)).
    type: list
    elements: str
    default: []
  jump:
    description:
      - When a guest's C(ansible_ssh_common_args) gets C(-o ProxyJump=[user@]dom0[:port]), so that Ansible
        reaches the guest through its dom0.
      - V(auto) jumps for a guest whose address (or, without one, whose first vif) is on a bridge that is listed
        in O(jump_bridges), or that the dom0 reported with no uplink, that is no port other than guests' vifs
        (an internal bridge, like the one the C(xenfleet.xen.hypervisor) role makes in its C(internal) mode).
        A bridge with an uplink, or whose ports could not be read, gets no jump.
      - V(always) jumps for every guest; V(never) for none.
      - The jump uses the dom0's address, port and user as the plugin reaches it. When the dom0's inventory gives
        it a key or ssh options (see O(dom0_group)), which ssh does not hand on to a ProxyJump, the guest gets
        C(-o ProxyCommand=...) instead, running O(ssh_executable) to the dom0 with them and C(-W %h:%p).
        O(compose) can override C(ansible_ssh_common_args).
    type: str
    choices: [auto, always, never]
    default: auto
  jump_bridges:
    description: With O(jump=auto), bridges whose guests are always reached through their dom0.
    type: list
    elements: str
    default: []
  include_dom0s:
    description:
      - Also make each dom0 that answered a host, in group C(xen_dom0s), with C(xen_host) (the facts
        M(xenfleet.xen.xen_host_info) returns, from the same SSH call, C(xl info) and C(/proc/cmdline)) and
        C(xen_dom0_guests) (the inventory names of its guests). O(compose), O(groups) and O(keyed_groups) apply
        to guests only.
    type: bool
    default: false
  max_workers:
    description:
      - How many dom0s are asked at the same time (each one an C(ssh) process on the controller).
      - With 200 dom0s and 64 workers, the answers take about four round trips to a dom0; with 16, thirteen.
    type: int
    default: 64
  timeout:
    description:
      - Seconds one dom0 has to answer (ssh's connection included). A dom0 that does not answer in time, or
        fails, is left out with a warning naming it (an error with O(strict=true)); the rest of the inventory is built.
    type: int
    default: 30
  ssh_executable:
    description: The OpenSSH client on the controller (a name looked up in E(PATH), or a path).
    type: str
    default: ssh
  xl_path:
    description: The C(xl) command on the dom0s (default C(xl) from the ssh user's E(PATH)).
    type: str
    default: xl
notes:
  - The guests' facts are C(xen_name), C(xen_dom0), C(xen_domid), C(xen_uuid), C(xen_type), C(xen_state),
    C(xen_flags), C(xen_shutdown_reason), C(xen_vcpus), C(xen_vcpus_max), C(xen_memory_mb), C(xen_memory_max_mb),
    C(xen_nics), C(xen_addresses), C(xen_bridge), C(xen_jump), C(xen_migrating) and C(xen_config_source).
    C(xen_state) is V(running) for a guest xl shows running or blocked (idle), else V(paused), V(shutdown)
    or V(crashed). Dying domains, stub domains and Domain-0 are never guests.
  - Every guest is in C(xen_guests), C(xen_dom0_<dom0>), C(xen_state_<state>) and C(xen_type_<type>) (names with
    every character other than letters, digits and C(_) replaced by C(_)).
  - With O(cache=true) a build that finds the cache filled runs no ssh at all (also when a dom0 failed when it
    was filled, its warning is repeated); C(ansible-inventory --flush-cache), a changed dom0 list or a change of
    what is asked (O(include_dom0s), O(xl_path)) asks again.
seealso:
  - module: xenfleet.xen.xen_domain_info
  - module: xenfleet.xen.xen_host_info
'''

EXAMPLES = r'''
# xen.xen.yml: two dom0s named here, reached as ~/.ssh/config says (for example User root)
plugin: xenfleet.xen.xen
hosts:
  - xen1
  - name: xen2
    address: 192.0.2.12
    port: 2222
    user: root
    private_key_file: ~/.ssh/xen_fleet
    ssh_args: -o ConnectTimeout=5 -J admin@bastion.example.org

---
# xen.xen.yml next to a static inventory that has the dom0s in group xen_hosts:
#   hosts.ini:
#     [xen_hosts]
#     xen1 ansible_host=192.0.2.11 ansible_user=root
#     xen2 ansible_host=192.0.2.12 ansible_user=root
#   ansible-inventory -i hosts.ini -i xen.xen.yml --graph
plugin: xenfleet.xen.xen
dom0_group: xen_hosts
hostname_template: '{{ name }}.{{ xen_dom0 }}'
filters:
  - xen_state == 'running'

---
# Groups by dom0 and by state of the guest's own choosing, variables, and a cache for an hour
plugin: xenfleet.xen.xen
dom0_group: xen_hosts
include_dom0s: true
keyed_groups:
  - key: xen_dom0
    prefix: running_on
  - key: xen_state
    prefix: state
groups:
  small: xen_memory_mb < 1024
compose:
  ansible_user: "'debian'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/xenfleet-inventory
cache_timeout: 3600
'''

import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.helpers import get_group_vars
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.vars import combine_vars

from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _inventory as inv
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec, XenError, XlCommandError

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19: every template string is trusted
    trust_as_template = None


def _trusted(template):
    return trust_as_template(template) if trust_as_template is not None else template


def run_ssh(argv, timeout):
    """Run the ssh argv (a list, never a shell) with LC_ALL=C: (rc, stdout, stderr); subprocess.TimeoutExpired
    when it did not end within `timeout` seconds (it is then killed)."""
    env = dict(os.environ, LC_ALL='C', LANG='C', LANGUAGE='C')
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, env=env, check=False)
    return proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')


def _text(data):
    return data.decode('utf-8', 'replace') if isinstance(data, bytes) else (data or '')


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'xenfleet.xen.xen'

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(('.xen.yml', '.xen.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path)
        try:
            dom0s = self._dom0s(config)
        except InvalidSpec as exc:
            raise AnsibleParserError('%s: %s' % (path, exc.msg)) from None
        script = xlcmd.inventory_probe(hostcmd.ip_neigh(), host_info=self.get_option('include_dom0s'),
                                       xl=self.get_option('xl_path'))
        # the cache holds the dom0s' answers to this script, asked that way: anything else asks again
        asked = {'dom0s': [[d['name'], d['address'], d['port'], d['user'], d['identity'], d['options']] for d in dom0s],
                 'probe': hashlib.sha256(script.encode('utf-8')).hexdigest()}
        cache_key = self.get_cache_key(path)
        reports = None
        update = bool(self.get_option('cache')) and not cache
        if self.get_option('cache') and cache:
            try:
                cached = self._cache[cache_key]
            except KeyError:
                cached = None
            if isinstance(cached, dict) and cached.get('asked') == asked:
                reports = cached['reports']
            else:
                update = True
        if reports is None:
            reports = self._probe_all(dom0s, script)
        if update:
            self._cache[cache_key] = {'asked': asked, 'reports': reports}
        self._populate(dom0s, reports)

    # -- configuration -----------------------------------------------------------------------

    def _dom0s(self, config):
        unknown = sorted(set(config) - set(self._options))
        if unknown:
            raise InvalidSpec(', '.join(unknown), 'unknown option(s) of %s; its options are: %s'
                              % (self.NAME, ', '.join(sorted(self._options))))
        for option, low in (('max_workers', 1), ('timeout', 1)):
            if self.get_option(option) < low:
                raise InvalidSpec(option, 'must be %d or more, got %r' % (low, self.get_option(option)))
        template = self.get_option('hostname_template')
        if template is not None and (not isinstance(template, str) or not template.strip()):
            raise InvalidSpec('hostname_template', 'must be a non-empty template, got %r' % (template,))
        if not self.get_option('xl_path'):
            raise InvalidSpec('xl_path', 'must be the xl command on the dom0s, e.g. xl or /usr/sbin/xl')
        ssh = self.get_option('ssh_executable')
        if not ssh or not shutil.which(ssh):
            raise InvalidSpec('ssh_executable', '%r was not found on the controller: install the OpenSSH client '
                              '(Debian: openssh-client) or give its path' % (ssh,))
        dom0s = [inv.dom0_from_option(entry, i) for i, entry in enumerate(self.get_option('hosts') or [])]
        group = self.get_option('dom0_group')
        if group:
            if group not in self.inventory.groups:
                raise InvalidSpec('dom0_group', 'there is no group %r in the inventory read before this file (groups: %s); '
                                  'give the source that defines it first, e.g. -i hosts.ini -i xen.xen.yml'
                                  % (group, ', '.join(sorted(self.inventory.groups)) or 'none'))
            members = self.inventory.groups[group].get_hosts()
            if not members:
                raise InvalidSpec('dom0_group', 'group %r has no hosts' % (group,))
            for host in members:
                host_vars = combine_vars(get_group_vars(host.get_groups()), host.get_vars())
                dom0s.append(inv.dom0_from_host_vars(host.name, host_vars, group))
        dom0s = inv.merge_dom0s(dom0s)
        if not dom0s:
            raise InvalidSpec('hosts', 'no dom0 to ask: list dom0s in hosts, or name their group in dom0_group')
        return dom0s

    # -- asking the dom0s --------------------------------------------------------------------

    def _probe_all(self, dom0s, script):
        workers = min(self.get_option('max_workers'), len(dom0s))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda dom0: self._probe(dom0, script), dom0s))

    def _probe(self, dom0, script):
        """One dom0's report (_inventory.read_probe), or {'dom0', 'error'} saying why there is none."""
        timeout = self.get_option('timeout')
        target = inv.dom0_ssh_target(dom0, self.get_option('ssh_executable'), connect_timeout=timeout)
        argv = target.ssh_script_argv(script)
        rc = out = err = None
        try:
            rc, out, err = run_ssh(argv, timeout)
            return inv.read_probe(dom0['name'], argv, rc, out, err, xl=self.get_option('xl_path'))
        except subprocess.TimeoutExpired as exc:
            failure = XlCommandError('dom0 %s did not answer within %d seconds (timeout)' % (dom0['name'], timeout),
                                     cmd=argv, rc=None, stdout=_text(exc.stdout), stderr=_text(exc.stderr))
        except OSError as exc:
            failure = XlCommandError('dom0 %s: could not run ssh: %s' % (dom0['name'], exc), cmd=argv)
        except XenError as exc:
            failure = exc
        except Exception as exc:  # pylint: disable=broad-except  # one dom0's odd answer must not stop the others
            failure = XlCommandError('dom0 %s: its answer could not be read (%s: %s)' % (dom0['name'], type(exc).__name__, exc),
                                     cmd=argv, rc=rc, stdout=out, stderr=err)
        return {'dom0': dom0['name'], 'error': inv.describe_failure(failure)}

    # -- the inventory -----------------------------------------------------------------------

    def _problem(self, message):
        if self.get_option('strict'):
            raise AnsibleError(message)
        self.display.warning(message)

    def _populate(self, dom0s, reports):
        by_name = dict((d['name'], d) for d in dom0s)
        answered = []
        for report in reports:
            if report.get('error'):
                self._problem('%s; its guests are not in the inventory.' % report['error'])
                continue
            answered.append(report)
            for warning in report['warnings']:
                self.display.warning(warning)
        chosen, warnings = inv.select_guests(answered)
        for warning in warnings:
            self.display.warning(warning)
        reports_by_dom0 = dict((r['dom0'], r) for r in answered)
        ifnames = dict((r['dom0'], inv.guest_ifnames(r)) for r in answered)
        jump, jump_bridges = self.get_option('jump'), self.get_option('jump_bridges') or []
        placed = {}
        guests_of = dict((r['dom0'], []) for r in answered)
        for dom0_name, record, migrating in chosen:
            facts = inv.guest_vars(by_name[dom0_name], record, migrating, reports_by_dom0[dom0_name]['bridges'],
                                   jump, jump_bridges, ifnames[dom0_name], self.get_option('ssh_executable'))
            variables = inv.template_vars(facts)
            if not self._wanted(variables):
                continue
            hostname = self._hostname(variables)
            if hostname in placed:
                self._problem('hostname_template %r gives %s for guest %s on %s and guest %s on %s: only the first is in '
                              'the inventory; make the names unique, e.g. hostname_template: "{{ name }}.{{ xen_dom0 }}"'
                              % (self.get_option('hostname_template') or '{{ name }}', hostname, placed[hostname][0], placed[hostname][1],
                                 record['name'], dom0_name))
                continue
            placed[hostname] = (record['name'], dom0_name)
            guests_of[dom0_name].append(hostname)
            self._add_guest(hostname, facts, variables)
        if self.get_option('include_dom0s'):
            for report in answered:
                self._add_dom0(by_name[report['dom0']], report, guests_of[report['dom0']])

    def _wanted(self, variables):
        for index, condition in enumerate(self.get_option('filters') or []):
            try:
                result = self._compose(_trusted(condition), variables)
            except Exception as exc:  # pylint: disable=broad-except  # any templating error names the option
                self._problem('filters[%d] (%r) could not be evaluated for guest %s on %s, which is left out: %s'
                              % (index, condition, variables['xen_name'], variables['xen_dom0'], exc))
                return False
            if isinstance(result, str):
                result = result.strip().lower() in ('true', 'yes', '1')
            if not result:
                return False
        return True

    def _hostname(self, variables):
        template = self.get_option('hostname_template')
        if template is None:
            return variables['xen_name']
        fast = inv.render_simple(template, variables)
        if fast is not None and fast.strip():
            return fast.strip()
        self.templar.available_variables = variables
        try:
            name = self.templar.template(_trusted(template))
        except Exception as exc:  # pylint: disable=broad-except  # any templating error names the option
            raise AnsibleParserError('hostname_template %r could not be rendered for guest %s on %s: %s'
                                     % (template, variables['xen_name'], variables['xen_dom0'], exc)) from None
        name = str(name).strip() if name is not None else ''
        if not name:
            raise AnsibleParserError('hostname_template %r gives an empty name for guest %s on %s'
                                     % (template, variables['xen_name'], variables['xen_dom0']))
        return name

    def _add_guest(self, hostname, facts, variables):
        self.inventory.add_host(hostname)
        for group in inv.guest_groups(facts):
            self.inventory.add_group(group)
            self.inventory.add_child(group, hostname)
        for key, value in facts.items():
            self.inventory.set_variable(hostname, key, value)
        strict = self.get_option('strict')
        self._set_composite_vars(self.get_option('compose'), variables, hostname, strict=strict)
        self._add_host_to_composed_groups(self.get_option('groups'), variables, hostname, strict=strict)
        self._add_host_to_keyed_groups(self.get_option('keyed_groups'), variables, hostname, strict=strict)

    def _add_dom0(self, dom0, report, guests):
        name = dom0['name']
        self.inventory.add_host(name)
        self.inventory.add_group('xen_dom0s')
        self.inventory.add_child('xen_dom0s', name)
        for key, var in (('address', 'ansible_host'), ('port', 'ansible_port'), ('user', 'ansible_user')):
            if dom0.get(key) is not None:
                self.inventory.set_variable(name, var, dom0[key])
        if report.get('host') is not None:
            self.inventory.set_variable(name, 'xen_host', report['host'])
        self.inventory.set_variable(name, 'xen_dom0_guests', guests)
