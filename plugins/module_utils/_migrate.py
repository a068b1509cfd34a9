# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# Live migration: the checks of the module's input, the one-ssh-call pre-flight probe of the
# target dom0 and its parser, the checks that decide whether a guest may move, and the reading
# of `xl migrate`'s output. Pure, apart from the script text that the client runs on the target.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import posixpath
import re
import shlex

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec

MARK = '@@XENFLEET@@'

# --------------------------------------------------------------------------------------------
# The module's input (checked before anything runs)
# --------------------------------------------------------------------------------------------

_LABEL = re.compile(r'\A[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z')
_USER = re.compile(r'\A[A-Za-z0-9_.][A-Za-z0-9_.@-]*\Z')
TARGET_ALLOWED = ('a host name (letters, digits and hyphens in dot-separated labels, RFC 1123) or an IPv4 or IPv6 '
                  'address')


def target_problem(host):
    """Why `host` cannot be the target (None when it can).

    xl runs its transport as `sh -c "exec SSHCMD HOST xl migrate-receive"` with HOST unquoted, so
    anything but a host name or an address would be read by a shell (or by ssh as an option).
    """
    if not host:
        return 'is empty: give %s' % TARGET_ALLOWED
    if ':' in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return '%r is not %s' % (host, TARGET_ALLOWED)
        return None
    name = host[:-1] if host.endswith('.') else host
    labels = name.split('.')
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return '%r is not %s' % (host, TARGET_ALLOWED)
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return '%r is not a valid IPv4 address (four numbers 0-255 separated by dots)' % (host,)
    return None


def ssh_user_problem(user):
    """Why `user` cannot be the ssh user (None when it can); None (not set) leaves the choice to ssh."""
    if user is None:
        return None
    if not _USER.match(user):
        return ('%r is not a user name: letters, digits and . _ @ - only, not starting with -' % (user,))
    return None


def ssh_option_problem(option):
    if '=' not in option or '\n' in option:
        return '%r is not an ssh -o option of the form Key=value' % (option,)
    return None


def validate(params):
    """Refuse bad input before anything runs: InvalidSpec naming the parameter and what is allowed."""
    problem = target_problem(params.get('target'))
    if problem:
        raise InvalidSpec('target', problem)
    problem = ssh_user_problem(params.get('ssh_user'))
    if problem:
        raise InvalidSpec('ssh_user', problem)
    port = params.get('ssh_port')
    if port is not None and not 1 <= port <= 65535:
        raise InvalidSpec('ssh_port', 'must be a port number from 1 to 65535, got %r' % (port,))
    for option in ('ssh_connect_timeout', 'timeout'):
        value = params.get(option)
        if value is not None and value <= 0:
            raise InvalidSpec(option, 'must be a positive number of seconds, got %r' % (value,))
    for option in params.get('ssh_options') or []:
        problem = ssh_option_problem(option)
        if problem:
            raise InvalidSpec('ssh_options', problem)


# --------------------------------------------------------------------------------------------
# The pre-flight
# --------------------------------------------------------------------------------------------

def probe_script(paths, bridges, config_path, xl=xlcmd.REMOTE_XL):
    """POSIX sh run on the target: everything the pre-flight needs, in one ssh round trip.

    `config_path` is the guest's config file (the same path on both hosts), `xl` the target's xl.
    Sections start with a marker line; anything printed before the first marker (a banner
    from a shell startup file) would also corrupt xl's migration stream, so it is reported.
    """
    q = shlex.quote
    lines = [
        'echo %s begin' % MARK,
        'if command -v %s >/dev/null 2>&1; then %s 2>&1; echo "%s info-rc $?"; else echo "%s no-xl"; fi'
        % (q(xl), xlcmd.remote_words(xlcmd.info(), xl), MARK, MARK),
        'echo %s capabilities; cat /proc/xen/capabilities 2>/dev/null' % MARK,
        'echo %s list; %s 2>/dev/null' % (MARK, xlcmd.remote_words(xlcmd.list_rows(), xl)),
        'echo %s paths' % MARK,
    ]
    if paths:
        lines.append('for p in %s; do if [ -e "$p" ]; then echo "present $p"; else echo "missing $p"; fi; done'
                     % ' '.join(q(p) for p in paths))
    lines.append('echo %s bridges' % MARK)
    if bridges:
        lines.append('for b in %s; do if [ -d "/sys/class/net/$b/bridge" ]; then echo "present $b"; '
                     'else echo "missing $b"; fi; done' % ' '.join(q(b) for b in bridges))
    lines.append('echo %s config; if [ -e %s ]; then echo present; else echo missing; fi'
                 % (MARK, q(config_path)))
    lines.append('echo %s end' % MARK)
    return '\n'.join(lines) + '\n'


def parse_probe(stdout):
    """Split the probe's output into its sections; `banner` is what came before the first marker."""
    sections = {'banner': [], 'info': [], 'capabilities': [], 'list': [], 'paths': [], 'bridges': [], 'config': []}
    current = 'banner'
    info_rc = None
    has_xl = True
    complete = False
    for line in stdout.splitlines():
        if line.startswith(MARK + ' '):
            word = line[len(MARK) + 1:].strip()
            if word.startswith('info-rc '):
                info_rc = int(word.split()[1])
                continue
            if word == 'no-xl':
                has_xl = False
                continue
            if word == 'begin':
                current = 'info'
                continue
            if word == 'end':
                complete = True
                current = None
                continue
            current = word
            continue
        if current is not None:
            sections.setdefault(current, []).append(line)
    return {
        'banner': [line for line in sections['banner'] if line.strip()],
        'has_xl': has_xl,
        'info_rc': info_rc,
        'info_text': '\n'.join(sections['info']),
        'dom0': 'control_d' in ' '.join(sections['capabilities']),
        'list_text': '\n'.join(sections['list']),
        'paths': dict((l.split(' ', 1)[1], l.split(' ', 1)[0] == 'present') for l in sections['paths'] if ' ' in l),
        'bridges': dict((l.split(' ', 1)[1], l.split(' ', 1)[0] == 'present') for l in sections['bridges'] if ' ' in l),
        'config_present': 'present' in sections['config'],
        'complete': complete,
    }


def guest_requirements(summary):
    """Files and bridges the guest needs on the target (from its live xl list -l summary)."""
    paths = []
    for key in ('kernel', 'ramdisk'):
        if summary.get(key):
            paths.append(summary[key])
    for disk in summary.get('disks') or []:
        target = disk.get('target')
        if target and not disk.get('cdrom'):
            paths.append(target)
    bridges = sorted(set(n['bridge'] for n in summary.get('nics') or [] if n.get('bridge')))
    seen = set()
    unique = []
    for path in paths:
        if path not in seen:
            seen.add(path)
            unique.append(path)
    return unique, bridges


def preflight_problems(name, summary, local_info, probe, target):
    """Every reason the guest cannot move to `target`, as sentences (empty list: it can).

    `summary`: the guest (xen_domain_info shape); `local_info`: parsed source `xl info`;
    `probe`: parse_probe() of the target.
    """
    problems = []
    if probe['banner']:
        problems.append('%s prints text on a non-interactive ssh command (%r...): it would break xl\'s migration '
                        'stream. Remove the output from the shell startup files (e.g. ~/.bashrc) of the ssh user there.'
                        % (target, probe['banner'][0][:60]))
    if not probe['complete']:
        problems.append('the pre-flight probe on %s did not run to its end' % target)
        return problems
    if not probe['has_xl']:
        return problems + ['%s is not a Xen host: xl is not installed there' % target]
    if probe['info_rc'] != 0 or not probe['dom0']:
        first = probe['info_text'].strip().splitlines()
        return problems + ['%s is not a Xen host usable by xl (dom0: %s; xl info said: %s)'
                           % (target, 'yes' if probe['dom0'] else 'no', first[0] if first else 'nothing')]
    try:
        remote = parse.parse_info(probe['info_text'])
    except parse.XlParseError:
        return problems + ['%s: cannot read `xl info`' % target]
    mine = (int(local_info.get('xen_major', 0)), int(local_info.get('xen_minor', 0)))
    theirs = (int(remote.get('xen_major', 0)), int(remote.get('xen_minor', 0)))
    if theirs < mine:
        problems.append('%s runs Xen %s, older than this host\'s Xen %s: Xen only migrates to the same or a newer '
                        'version' % (target, remote.get('xen_version'), local_info.get('xen_version')))
    need = max(summary['memory_mb'].get('current') or 0, summary['memory_mb'].get('target') or 0)
    free = int(remote.get('free_memory', 0))
    if need > free:
        problems.append('%s has %d MiB free, %s needs %d MiB' % (target, free, name, need))
    try:
        rows = parse.parse_list(probe['list_text'])
    except parse.XlParseError:
        rows = []
    taken = [r['name'] for r in rows if r['name'] in (name, name + '--incoming')]
    if taken and taken[0].endswith('--incoming'):
        problems.append('%s already has a domain named %s: a migration of %s to it is running, or a source died '
                        'mid-transfer and left it (its sshd keeps the dead session until TCP gives up, unless it '
                        'drops silent clients: ClientAliveInterval, set by the xenfleet.xen.hypervisor role). If no '
                        'migration is running, `xl destroy %s` there' % (target, taken[0], name, taken[0]))
    elif taken:
        problems.append('%s already has a domain named %s' % (target, taken[0]))
    missing = sorted(p for p, ok in probe['paths'].items() if not ok)
    if missing:
        problems.append('missing on %s (xl never copies disks or kernels; use shared storage at the same paths): %s'
                        % (target, ', '.join(missing)))
    bridges = sorted(b for b, ok in probe['bridges'].items() if not ok)
    if bridges:
        problems.append('bridge(s) %s used by %s do not exist on %s' % (', '.join(bridges), name, target))
    if summary.get('pci_devices'):
        problems.append('%s has %d PCI passthrough device(s): it cannot be live-migrated' % (name, summary['pci_devices']))
    return problems


def migrate_outcome(rc, stdout, stderr):
    """Read `xl migrate`'s exit code and messages: (status, message).

    status: 'ok', 'failed' (xl resumed the guest at the source) or 'undefined' (final handshake
    failed: the guest may be on either host, or neither).
    """
    text = '%s\n%s' % (stdout or '', stderr or '')
    if rc == 0 and 'Migration successful' in text:
        return 'ok', 'Migration successful.'
    if 'Domain state is now undefined' in text or 'failed during final handshake' in text:
        return 'undefined', _line_with(text, 'final handshake') or 'Migration failed during final handshake'
    # the transport's own message says more than xl's "truncated reading banner" that follows it
    for needle, what in (('xl: command not found', 'xl is not installed on the target (or not in the ssh user\'s PATH)'),
                         ('Host key verification failed', 'the target\'s SSH host key is not known on this host'),
                         ('timed out during banner exchange', 'SSH to the target timed out in the banner exchange')):
        line = _line_with(text, needle)
        if line and rc != 0:
            return 'failed', '%s: %s' % (what, line)
    for needle in ('unexpected data instead of banner', 'truncated reading banner', 'failed to suspend',
                   'resuming at sender', 'problems at target', 'Migration failed'):
        line = _line_with(text, needle)
        if line:
            return 'failed', line
    if rc == 0:
        return 'ok', 'xl migrate exited 0'
    lines = [l for l in text.splitlines() if l.strip()]
    return 'failed', lines[-1] if lines else 'xl migrate failed with exit code %s' % rc


def _line_with(text, needle):
    for line in text.splitlines():
        if needle in line:
            return line.strip()
    return None


def transfer_facts(stdout, stderr):
    """What xl's output honestly tells about the transfer: the xl/libxc progress lines."""
    lines = []
    for line in ('%s\n%s' % (stdout or '', stderr or '')).splitlines():
        line = line.strip()
        if line.startswith(('migration target:', 'migration sender:', 'xc: info:', 'Saving to migration stream',
                            'Loading new save file', 'Migration successful')):
            lines.append(line)
    return lines


def _config_lines(config_path, mode, link=None):
    """sh lines: the config file from stdin atomically to `config_path`, then (with `link`) the autostart link to it."""
    q = shlex.quote
    config_dir = posixpath.dirname(config_path)
    tmp = posixpath.join(config_dir, '.%s.xenfleet-tmp' % posixpath.basename(config_path))
    lines = [
        'mkdir -p %s' % q(config_dir),
        'cat > %s' % q(tmp),
        'chmod %o %s' % (mode, q(tmp)),
        'mv -f %s %s' % (q(tmp), q(config_path)),
    ]
    if link:
        lines += ['mkdir -p %s' % q(posixpath.dirname(link)), 'ln -sfn %s %s' % (q(config_path), q(link))]
    return lines


def move_config_script(config_path, mode, link=None):
    """sh run on the target: write the config file from stdin atomically to `config_path`, then (with
    `link`) the autostart link to it. The paths are the source's: the same on both hosts."""
    return '\n'.join(['set -e'] + _config_lines(config_path, mode, link)) + '\n'


def arrive_script(name, xl=xlcmd.REMOTE_XL, config_path=None, mode=None, link=None):
    """sh run on the target once `xl migrate` reported success and the guest left the source, in one ssh round trip:
    print the target's `xl list`, then - only when NAME is listed there, and when `config_path` is given - write the
    config file from stdin and the autostart link as move_config_script does. A marker line follows the list, and
    another the definition once written; parse_arrival reads them. A failing `xl list` ends the script before either
    marker (nothing written)."""
    q = shlex.quote
    lines = [
        'set -e',
        'rows=$(%s)' % xlcmd.remote_words(xlcmd.list_rows(), xl),
        "printf '%s\\n' \"$rows\"",
        'echo %s listed' % MARK,
    ]
    if config_path:
        lines.append("if printf '%%s\\n' \"$rows\" | awk -v n=%s 'NR > 1 && $1 == n { found = 1 } END { exit !found }'; then"
                     % q(name))
        lines += ['  ' + line for line in _config_lines(config_path, mode, link)]
        lines += ['  echo %s written' % MARK, 'fi']
    return '\n'.join(lines) + '\n'


def parse_arrival(stdout):
    """(rows, written) from arrive_script's output: the target's `xl list` rows (None when the list did not come
    through: xl failed, or the connection did) and whether the definition was written there."""
    marker = MARK + ' listed'
    lines = stdout.splitlines()
    if marker not in lines:
        return None, False
    at = lines.index(marker)
    try:
        rows = parse.parse_list('\n'.join(lines[:at]) + '\n')
    except parse.XlParseError:
        return None, False
    return rows, (MARK + ' written') in lines[at + 1:]
