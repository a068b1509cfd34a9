# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The inventory plugin's pure part (plugins/inventory/xen.py is the adapter that runs ssh and talks to
# Ansible): the dom0s to ask (from the plugin's `hosts` option or an inventory group's host vars), the
# reading of a dom0's answer to the probe (_xl_cmd.inventory_probe) into its guests, the choice of one copy
# of a guest seen on two dom0s (a live migration in flight), and each guest's host variables and groups:
# facts under xen_, ansible_host from the addresses dom0 knows, and the ProxyJump through its dom0.
# No I/O; the domains are read by _xl_parse and their addresses by _addresses, as xen_domain_info does.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re
import shlex

from ansible_collections.xenfleet.xen.plugins.module_utils import _addresses as addr
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl as xl
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec, XlCommandError, XlOutputError
from ansible_collections.xenfleet.xen.plugins.module_utils._migrate import ssh_user_problem

JUMP_MODES = ('auto', 'always', 'never')
DOM0_KEYS = ('name', 'address', 'port', 'user', 'private_key_file', 'ssh_args')
# Xen's names for a guest's ports on a dom0 bridge: vif<domid>.<devid>, and vif<domid>.<devid>-emu for the
# emulated NIC (tap) of an HVM guest (libxl's defaults; a vif's vifname= overrides them, see uplinks()).
GUEST_PORT = re.compile(r'\Avif\d+\.\d+(-emu)?\Z')
# How much of a command's output a message quotes.
QUOTE_LIMIT = 2000


# --------------------------------------------------------------------------------------------
# The dom0s
# --------------------------------------------------------------------------------------------

def _word_problem(value):
    """Why `value` cannot be a host name, address or ssh alias on ssh's command line (None when it can)."""
    if not isinstance(value, str) or not value:
        return 'must be a non-empty string, got %r' % (value,)
    if value.startswith('-') or any(c.isspace() or ord(c) < 32 for c in value):
        return '%r is not a host name or address (no spaces, not starting with -)' % (value,)
    return None


def _port(value, where):
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise InvalidSpec(where, 'must be a port number from 1 to 65535, got %r' % (value,))
    if not 1 <= int(value) <= 65535:
        raise InvalidSpec(where, 'must be a port number from 1 to 65535, got %r' % (value,))
    return int(value)


def dom0_from_option(entry, index):
    """One item of the plugin's `hosts` option -> {'name', 'address', 'port', 'user', 'identity', 'options'};
    InvalidSpec naming `hosts[INDEX]` (and the key) when it is not a name or a dict of DOM0_KEYS. `ssh_args` takes
    the words an inventory's ansible_ssh_common_args takes (see ssh_args_options)."""
    where = 'hosts[%d]' % index
    if isinstance(entry, str):
        entry = {'name': entry}
    if not isinstance(entry, dict):
        raise InvalidSpec(where, 'must be a dom0 name or a dict with %s, got %r' % (', '.join(DOM0_KEYS), entry))
    unknown = sorted(set(entry) - set(DOM0_KEYS))
    if unknown:
        raise InvalidSpec(where, 'unknown key(s) %s: a dom0 has %s' % (', '.join(unknown), ', '.join(DOM0_KEYS)))
    problem = _word_problem(entry.get('name'))
    if problem:
        raise InvalidSpec(where + '.name', problem)
    dom0 = {'name': entry['name'], 'address': None, 'port': None, 'user': None, 'identity': None, 'options': []}
    if entry.get('address') is not None:
        problem = _word_problem(entry['address'])
        if problem:
            raise InvalidSpec(where + '.address', problem)
        dom0['address'] = entry['address']
    if entry.get('port') is not None:
        dom0['port'] = _port(entry['port'], where + '.port')
    if entry.get('user') is not None:
        problem = ssh_user_problem(str(entry['user']))
        if problem:
            raise InvalidSpec(where + '.user', problem)
        dom0['user'] = str(entry['user'])
    key = entry.get('private_key_file')
    if key is not None:
        if not isinstance(key, str) or not key or key.startswith('-') or '\n' in key:
            raise InvalidSpec(where + '.private_key_file', 'must be the path of a private key file, got %r' % (key,))
        dom0['identity'] = key
    args = entry.get('ssh_args')
    if args is not None:
        if not isinstance(args, str):
            raise InvalidSpec(where + '.ssh_args', 'must be a string of ssh arguments, got %r' % (args,))
        options, identity = ssh_args_options(args, 'ssh_args', param=where + '.ssh_args')
        dom0['options'] = options
        if identity and dom0['identity'] is None:
            dom0['identity'] = identity
    return dom0


def ssh_args_options(text, where, param='dom0_group'):
    """The words of an inventory's ansible_ssh_common_args / ansible_ssh_extra_args -> (options, identity):
    `-o OPTION` (or `-oOPTION`) kept as ssh options, `-J JUMP` as ProxyJump=JUMP, `-i FILE` as the identity.
    InvalidSpec naming `param` and `where` for anything else (the plugin runs its own ssh and cannot guess what
    another flag means there)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InvalidSpec(param, '%s cannot be split into words: %s' % (where, exc))
    options, identity = [], None
    i = 0
    while i < len(words):
        word = words[i]
        flag, value = word[:2], word[2:]
        if flag in ('-o', '-J', '-i') and not value:
            if i + 1 >= len(words):
                raise InvalidSpec(param, '%s ends with %s and no value' % (where, flag))
            i += 1
            value = words[i]
        if flag == '-o' and value:
            options.append(value)
        elif flag == '-J' and value:
            options.append('ProxyJump=%s' % value)
        elif flag == '-i' and value:
            identity = value
        else:
            raise InvalidSpec(param, '%s has %r, which the inventory plugin cannot pass on to its ssh: it takes '
                              '-o OPTION, -J JUMP and -i FILE (put other settings in ~/.ssh/config)' % (where, word))
        i += 1
    return options, identity


def dom0_from_host_vars(name, host_vars, group):
    """A member of the `dom0_group` group -> the same dict, from its ansible_host/ansible_port/ansible_user, and
    the key and ssh options its inventory gives Ansible's ssh (ansible_ssh_private_key_file, ansible_ssh_common_args,
    ansible_ssh_extra_args) so the plugin reaches it as Ansible does. Values that are templates cannot be rendered
    here (they may need any variable): InvalidSpec."""
    where = 'dom0_group'
    dom0 = {'name': name, 'address': None, 'port': None, 'user': None, 'identity': None, 'options': []}
    for key, var in (('address', 'ansible_host'), ('port', 'ansible_port'), ('user', 'ansible_user'),
                     ('identity', 'ansible_ssh_private_key_file'), ('identity', 'ansible_private_key_file'),
                     ('options', 'ansible_ssh_common_args'), ('options', 'ansible_ssh_extra_args')):
        value = host_vars.get(var)
        if value is None or value == '':
            continue
        if isinstance(value, str) and ('{{' in value or '{%' in value):
            raise InvalidSpec(where, 'host %s of group %s has a template in %s (%r), which an inventory plugin cannot '
                              'render: give it a plain value, or list the dom0 in hosts instead' % (name, group, var, value))
        if key == 'port':
            dom0['port'] = _port(value, '%s: %s of host %s' % (where, var, name))
            continue
        if key == 'identity':
            if dom0['identity'] is None:
                dom0['identity'] = str(value)
            continue
        if key == 'options':
            options, identity = ssh_args_options(str(value), '%s of host %s' % (var, name))
            dom0['options'] += options
            if identity and dom0['identity'] is None:
                dom0['identity'] = identity
            continue
        problem = _word_problem(str(value)) if key == 'address' else ssh_user_problem(str(value))
        if problem:
            raise InvalidSpec(where, '%s of host %s %s' % (var, name, problem))
        dom0[key] = str(value)
    return dom0


def merge_dom0s(dom0s):
    """The dom0s once each, in order (a dom0 in `hosts` and in the group: the first one given wins)."""
    seen = set()
    out = []
    for dom0 in dom0s:
        if dom0['name'] not in seen:
            seen.add(dom0['name'])
            out.append(dom0)
    return out


# --------------------------------------------------------------------------------------------
# A dom0's answer to the probe
# --------------------------------------------------------------------------------------------

_MARKER = re.compile(r'^%s (.*)$' % re.escape(xlcmd.INVENTORY_MARK), re.M)


def parse_probe(stdout):
    """The probe's output -> {'banner': [lines before the first marker], 'sections': {name: {'text', 'rc'}},
    'started': bool, 'complete': bool}. A section's text loses its trailing blank lines; a section without its
    end marker is left out."""
    text = stdout or ''
    sections = {}
    started = complete = False
    current, body_start = None, 0
    banner_end = len(text)
    for match in _MARKER.finditer(text):
        banner_end = min(banner_end, match.start())
        words = match.group(1).split()
        if words == ['begin']:
            started = True
        elif words == ['done']:
            complete = True
        elif len(words) == 2 and words[0] == 'section':
            current, body_start = words[1], match.end() + 1
        elif len(words) == 3 and words[0] == 'end' and words[1] == current:
            lines = text[body_start:match.start()].splitlines()
            while lines and not lines[-1].strip():
                lines.pop()
            rc = int(words[2]) if words[2].lstrip('-').isdigit() else None
            sections[current] = {'text': '\n'.join(lines) + ('\n' if lines else ''), 'rc': rc}
            current = None
    banner = [line for line in text[:banner_end].splitlines() if line.strip()]
    return {'banner': banner, 'sections': sections, 'started': started, 'complete': complete}


def parse_bridges(text):
    """The bridges section -> {bridge: [ports]}."""
    bridges = {}
    for line in (text or '').splitlines():
        words = line.split()
        if words:
            bridges[words[0]] = words[1:]
    return bridges


def _quote(text):
    text = text or ''
    if len(text) > QUOTE_LIMIT:
        return text[:QUOTE_LIMIT] + '... (%d more characters)' % (len(text) - QUOTE_LIMIT)
    return text


def describe_failure(exc):
    """A failure's message with its command, exit status and output, for a warning or an error."""
    if getattr(exc, 'cmd', None) is None:
        return str(exc)
    cmd = exc.cmd if isinstance(exc.cmd, str) else ' '.join(shlex.quote(str(w)) for w in exc.cmd)
    return '%s (cmd: %s; rc: %s; stdout: %r; stderr: %r)' % (str(exc), cmd, exc.rc, _quote(exc.stdout), _quote(exc.stderr))


def _section_failure(dom0, probe, name, words, ssh_stderr, parse_error=None):
    section = probe['sections'][name]
    if parse_error is not None:
        msg = 'dom0 %s: could not read the output of `%s`: %s' % (dom0, words, parse_error)
        return XlOutputError(msg, cmd=words, rc=section['rc'], stdout=section['text'], stderr=ssh_stderr)
    hint = ' (not found in the ssh user\'s PATH on the dom0: set xl_path)' if section['rc'] == 127 else ''
    msg = 'dom0 %s: `%s` failed with exit code %s%s' % (dom0, words, section['rc'], hint)
    return XlCommandError(msg, cmd=words, rc=section['rc'], stdout=section['text'], stderr=ssh_stderr)


def read_probe(dom0, cmd, rc, stdout, stderr, xl=xlcmd.REMOTE_XL):
    """What one dom0 answered (the ssh argv `cmd`, its exit status and output) -> its report:
    {'dom0', 'domains': [guest records, transient copies of a live migration included], 'bridges': {bridge: ports}
    or None, 'host': xen_host_info-style facts or None (only when the probe asked for them), 'warnings': [...]}.

    Raises XlCommandError/XlOutputError (with cmd, rc, stdout, stderr) when the dom0 did not answer or its domains
    cannot be read. An unreadable neighbour table is only a warning: the addresses are then the declared ones.
    """
    probe = parse_probe(stdout)
    if not probe['started'] or not probe['complete']:
        said = (stderr or '').strip().splitlines()
        what = 'did not answer' if not probe['started'] else 'stopped before the end of the probe'
        raise XlCommandError('dom0 %s %s (ssh exit code %s): %s' % (dom0, what, rc, said[-1] if said else 'no message'),
                             cmd=cmd, rc=rc, stdout=stdout, stderr=stderr)
    sections = probe['sections']
    long_words = xlcmd.remote_words(xlcmd.list_long(), xl)
    list_words = xlcmd.remote_words(xlcmd.list_rows(), xl)
    for name, words in (('list_long', long_words), ('list', list_words)):
        if name not in sections:
            raise XlCommandError('dom0 %s: the probe\'s output has no %s section' % (dom0, name),
                                 cmd=cmd, rc=rc, stdout=stdout, stderr=stderr)
        if sections[name]['rc'] != 0:
            raise _section_failure(dom0, probe, name, words, stderr)
    try:
        long_entries = parse.parse_list_long(sections['list_long']['text'])
    except parse.XlParseError as exc:
        raise _section_failure(dom0, probe, 'list_long', long_words, stderr, exc)
    try:
        rows = parse.parse_list(sections['list']['text'])
    except parse.XlParseError as exc:
        raise _section_failure(dom0, probe, 'list', list_words, stderr, exc)
    warnings = []
    domains = parse.merge_domains(long_entries, rows, include_transient=True)
    have = set(e['domid'] for e in long_entries)
    for dom in domains:
        if dom['domid'] not in have:
            warnings.append('dom0 %s: `xl list -l` left out domain %s (id %d): its type, devices and addresses are unknown '
                            '(for an HVM guest, its device model did not answer libxl in time); it is reported from '
                            '`xl list` alone.' % (dom0, dom['name'], dom['domid']))
    neighbours = None
    neigh = sections.get('neigh')
    if any(nic.get('mac') for dom in domains for nic in dom['nics']):
        if neigh is None or neigh['rc'] != 0:
            warnings.append('dom0 %s: its neighbour table could not be read (`ip -json neigh show` exit code %s): the '
                            'guests\' addresses are only the declared ones.' % (dom0, None if neigh is None else neigh['rc']))
        else:
            try:
                neighbours = addr.parse_neigh(neigh['text'])
            except addr.NeighParseError as exc:
                warnings.append('dom0 %s: the guests\' addresses are only the declared ones: %s' % (dom0, exc))
    bridges = parse_bridges(sections['bridges']['text']) if 'bridges' in sections else None
    host = None
    if 'info' in sections:
        host = _host_facts(dom0, sections, rows, warnings)
    return {
        'dom0': dom0,
        'domains': [guest_record(dom, neighbours) for dom in domains],
        'bridges': bridges,
        'host': host,
        'warnings': warnings,
    }


def _host_facts(dom0, sections, rows, warnings):
    info = sections['info']
    if info['rc'] != 0:
        warnings.append('dom0 %s: `xl info` failed with exit code %s: no xen_host facts' % (dom0, info['rc']))
        return None
    try:
        parsed = parse.parse_info(info['text'])
    except parse.XlParseError as exc:
        warnings.append('dom0 %s: no xen_host facts: %s' % (dom0, exc))
        return None
    row = [r for r in rows if r['domid'] == 0]
    cmdline = sections.get('cmdline') or {}
    return parse.host_facts(parsed, dom0=row[0] if row else None,
                            dom0_cmdline=cmdline.get('text') if cmdline.get('rc') == 0 else None)


def guest_record(summary, neighbours):
    """What the inventory keeps of a domain (domain_summary) with its addresses; plain data (it is cached)."""
    return {
        'name': summary['name'],
        'domid': summary['domid'],
        'uuid': summary['uuid'],
        'type': summary['type'],
        'state': summary['state'],
        'flags': summary['flags'],
        'shutdown_reason': summary['shutdown_reason'],
        'vcpus': summary['vcpus']['online'],
        'vcpus_max': summary['vcpus']['max'],
        'memory_mb': summary['memory_mb']['current'],
        'memory_max_mb': summary['memory_mb']['max'],
        'nics': [{'mac': n['mac'], 'bridge': n['bridge'], 'ip': n['ip'], 'ifname': n['ifname']} for n in summary['nics']],
        'addresses': addr.guest_addresses(summary['nics'], neighbours),
        'config_source': summary['config_source'],
    }


# --------------------------------------------------------------------------------------------
# One copy of each guest
# --------------------------------------------------------------------------------------------

def base_name(name):
    """A domain's name without the suffix xl gives the two copies of a live migration."""
    for suffix in parse.MIGRATION_SUFFIXES:
        if name and name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def select_guests(reports):
    """The guests of all dom0s, each once: [(dom0, record, migrating)] in dom0 order, and warnings.

    During a live migration xl shows the guest as NAME on the dom0 it runs on and as NAME--incoming (target)
    or NAME--migratedaway (source, at the very end) on the other one. A guest is reported from its copy without
    suffix; when both copies carry one (the switch-over), from the --incoming one. A copy with a suffix and no
    counterpart in this inventory (the other dom0 is not in it or did not answer, or a failed migration left it)
    is not a guest of its own: left out, with a warning. Two copies without suffix and with the same UUID on two
    dom0s are one guest (the same dom0 listed twice under two names, or a guest started twice): reported once,
    from the first dom0, with a warning. Same-named guests with different UUIDs are different guests."""
    warnings = []
    copies = {}
    order = []
    for report in reports:
        for record in report['domains']:
            base = base_name(record['name'])
            if base not in copies:
                copies[base] = []
                order.append(base)
            copies[base].append((report['dom0'], record))
    chosen = []
    for base in order:
        plain = [(d, r) for d, r in copies[base] if r['name'] == base]
        transient = [(d, r) for d, r in copies[base] if r['name'] != base]
        migrating = bool(transient)
        if transient and plain:
            where = ', '.join('%s on %s' % (r['name'], d) for d, r in plain + transient)
            warnings.append('guest %s is being migrated (%s): reported once, from %s.' % (base, where, plain[0][0]))
        elif transient:
            incoming = [(d, r) for d, r in transient if r['name'].endswith('--incoming')]
            away = [(d, r) for d, r in transient if not r['name'].endswith('--incoming')]
            where = ', '.join('%s on %s' % (r['name'], d) for d, r in transient)
            if incoming and away:
                warnings.append('guest %s is switching dom0s (%s): reported once, from %s.' % (base, where, incoming[0][0]))
                plain = [(incoming[0][0], dict(incoming[0][1], name=base))]
            else:
                warnings.append('guest %s is only seen as %s: a live migration to or from a dom0 outside this inventory (or '
                                'one that did not answer), or a copy left by a failed migration; it is not reported.'
                                % (base, where))
                continue
        for dom0, record in _distinct_uuids(base, plain, warnings):
            chosen.append((dom0, record, migrating))
    return chosen, warnings


def _distinct_uuids(base, copies, warnings):
    seen = {}
    out = []
    for dom0, record in copies:
        uuid = record.get('uuid')
        if uuid and uuid in seen:
            warnings.append('guest %s (uuid %s) is on both %s and %s: reported once, from %s. Is one dom0 listed twice '
                            'under two names, or was the guest started on two hosts?' % (base, uuid, seen[uuid], dom0, seen[uuid]))
            continue
        if uuid:
            seen[uuid] = dom0
        out.append((dom0, record))
    return out


# --------------------------------------------------------------------------------------------
# A guest's host variables and groups
# --------------------------------------------------------------------------------------------

def _ip(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def choose_address(addresses):
    """The address to reach a guest at (ansible_host): its first declared one, else an IPv4 address from dom0's
    neighbour table, else a global IPv6 one; link-local addresses are never chosen. None when none is known."""
    usable = []
    for address in addresses or []:
        ip = _ip(address['address'])
        if ip is not None and not ip.is_link_local:
            usable.append((address, ip))
    for wanted in (lambda a, ip: a['source'] == 'declared',
                   lambda a, ip: ip.version == 4,
                   lambda a, ip: True):
        for address, ip in usable:
            if wanted(address, ip):
                return address
    return None


def uplinks(ports, guest_ifnames=()):
    """A bridge's ports that are not guests' vifs: its uplinks (a physical NIC, a bond, a VLAN...)."""
    guests = set(guest_ifnames)
    return [p for p in ports if not GUEST_PORT.match(p) and p not in guests
            and not (p.endswith('-emu') and p[:-len('-emu')] in guests)]


def wants_jump(mode, bridge, bridges, jump_bridges, guest_ifnames=()):
    """Whether a guest on `bridge` is reached through its dom0 (jump: always/never/auto).

    auto: when the bridge is in jump_bridges, or the dom0 reported it with no uplink (every port a guest's
    vif: an internal bridge, as the hypervisor role's internal mode makes). Not when the bridge is unknown."""
    if mode == 'always':
        return True
    if mode == 'never' or not bridge:
        return False
    if bridge in (jump_bridges or ()):
        return True
    if not bridges or bridge not in bridges:
        return False
    return not uplinks(bridges[bridge], guest_ifnames)


def jump_target(dom0):
    """ssh's ProxyJump value for a dom0: [user@]host[:port] (an IPv6 address in brackets)."""
    host = dom0.get('address') or dom0['name']
    if ':' in host:
        host = '[%s]' % host
    return '%s%s%s' % ('%s@' % dom0['user'] if dom0.get('user') else '', host,
                       ':%d' % dom0['port'] if dom0.get('port') else '')


def dom0_ssh_target(dom0, ssh_path='ssh', connect_timeout=15):
    """How the plugin reaches a dom0 (its probe, and the ProxyCommand of its guests): an _xl.SshTarget with the
    dom0's address, port, user, key and ssh options."""
    return xl.SshTarget(dom0.get('address') or dom0['name'], user=dom0.get('user'), port=dom0.get('port'),
                        identity=dom0.get('identity'), options=dom0.get('options'), connect_timeout=connect_timeout,
                        ssh_path=ssh_path)


def jump_ssh_args(dom0, jump_via, ssh_path='ssh'):
    """ansible_ssh_common_args for a guest reached through its dom0. A ProxyJump when the dom0 needs nothing but
    ~/.ssh/config; when its inventory gives it a key or ssh options (which ssh does not hand on to a ProxyJump),
    a ProxyCommand running the plugin's own ssh to the dom0 with them (`-W %h:%p`), host-key checking on."""
    if not dom0.get('identity') and not dom0.get('options'):
        return '-o %s' % shlex.quote('ProxyJump=%s' % jump_via)
    target = dom0_ssh_target(dom0, ssh_path)
    command = ' '.join(shlex.quote(a) for a in target.base_argv() + ['-W', '%h:%p', '--', target.host])
    return '-o %s' % shlex.quote('ProxyCommand=%s' % command)


def guest_ifnames(report):
    return set(n['ifname'] for r in report['domains'] for n in r['nics'] if n.get('ifname'))


def lifecycle_state(state):
    """xen_state: `running` for a domain xl shows running or blocked (idle: waiting for an event), so a group of
    running guests does not change with what they happened to do at the instant of the read."""
    return 'running' if state == 'blocked' else state


def guest_vars(dom0, record, migrating, bridges, jump, jump_bridges, ifnames=(), ssh_path='ssh'):
    """A guest's host variables: its facts (xen_*), ansible_host when an address is known, and
    ansible_ssh_common_args with the jump through its dom0 when wanted (jump_ssh_args)."""
    address = choose_address(record['addresses'])
    bridge = address['bridge'] if address else next((n['bridge'] for n in record['nics'] if n.get('bridge')), None)
    jump_via = jump_target(dom0) if wants_jump(jump, bridge, bridges, jump_bridges, ifnames) else None
    facts = {
        'xen_name': record['name'],
        'xen_dom0': dom0['name'],
        'xen_domid': record['domid'],
        'xen_uuid': record['uuid'],
        'xen_type': record['type'],
        'xen_state': lifecycle_state(record['state']),
        'xen_flags': record['flags'],
        'xen_shutdown_reason': record['shutdown_reason'],
        'xen_vcpus': record['vcpus'],
        'xen_vcpus_max': record['vcpus_max'],
        'xen_memory_mb': record['memory_mb'],
        'xen_memory_max_mb': record['memory_max_mb'],
        'xen_nics': [{'mac': n['mac'], 'bridge': n['bridge'], 'ip': n['ip']} for n in record['nics']],
        'xen_addresses': record['addresses'],
        'xen_bridge': bridge,
        'xen_jump': jump_via,
        'xen_migrating': migrating,
        'xen_config_source': record['config_source'],
    }
    if address:
        facts['ansible_host'] = address['address']
    if jump_via:
        facts['ansible_ssh_common_args'] = jump_ssh_args(dom0, jump_via, ssh_path)
    return facts


def safe_group_name(text):
    """A group name from any text: letters, digits and underscores only."""
    return re.sub(r'[^A-Za-z0-9_]', '_', str(text))


def guest_groups(facts):
    """The groups every guest is in: xen_guests, xen_dom0_<dom0>, xen_state_<state>, xen_type_<type>."""
    groups = ['xen_guests', 'xen_dom0_' + safe_group_name(facts['xen_dom0'])]
    if facts.get('xen_state'):
        groups.append('xen_state_' + safe_group_name(facts['xen_state']))
    if facts.get('xen_type'):
        groups.append('xen_type_' + safe_group_name(facts['xen_type']))
    return groups


_PLACEHOLDER = re.compile(r'\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}')


def render_simple(template, variables):
    """`template` rendered without Jinja2 when it is only literal text and `{{ variable }}` placeholders whose values
    are strings or integers (which Jinja2 prints the same way), else None (then the templar renders it). Compiling a
    template costs about a millisecond in ansible-core 2.21, for every guest: this is the common case made cheap."""
    if '{%' in template or '{#' in template or '\n' in template:
        return None
    parts = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        value = variables.get(match.group(1))
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        parts.extend((template[pos:match.start()], str(value)))
        pos = match.end()
    parts.append(template[pos:])
    if any('{{' in part or '}}' in part for part in parts[0::2]):
        return None
    return ''.join(parts)


def template_vars(facts):
    """The variables a hostname_template, filters, compose, groups and keyed_groups see: the facts and `name`."""
    out = dict(facts)
    out['name'] = facts['xen_name']
    return out
