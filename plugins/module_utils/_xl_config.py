# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# Pure functions for xl.cfg(5) text: render a desired guest as a deterministic config file,
# read a config file back into data, and render/parse disk (xl-disk-configuration(5)) and
# network (xl-network-configuration(5)) specs. No I/O, no AnsibleModule.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re


class XlConfigError(ValueError):
    """A value cannot be expressed in xl.cfg syntax, or a file is not valid xl.cfg."""


# xl.cfg keys whose values are secrets: a file that sets one is mode 0600, diffs show it redacted.
SECRET_KEYS = ('vncpasswd',)


KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_.]*$')
NAME_RE = re.compile(r'^[A-Za-z0-9_.-]+$')
RESERVED_NAMES = ('Domain-0', '(null)')
MAX_NAME_LEN = 64


def name_problem(name):
    """Why `name` cannot be a domain name, or None when it can."""
    if not name:
        return 'must not be empty'
    if len(name) > MAX_NAME_LEN:
        return 'must be at most %d characters' % MAX_NAME_LEN
    if not NAME_RE.match(name):
        return 'may only contain letters, digits, "_", "." and "-"'
    if name.isdigit():
        return 'must not be all digits (xl would take it as a domain id)'
    if name in RESERVED_NAMES or name.lower() == 'domain-0':
        return 'is reserved by Xen'
    if name.endswith(('--incoming', '--migratedaway', '-dm')):
        return 'must not end in "--incoming", "--migratedaway" or "-dm" (names xl uses for its own domains)'
    if name in ('.', '..') or name.startswith('-'):
        return 'must not be "." or ".." or start with "-"'
    return None


def vnclisten_problem(value):
    """Why `value` is not an xl.cfg vnclisten (ADDRESS or ADDRESS:DISPLAYNUM, IPv4 or IPv6), or None.

    An IPv6 address with a display number is written in brackets: [::1]:1. Scoped IPv6 addresses
    (fe80::1%eth0) are refused on every Python (only 3.9+ reads them).
    """
    text = str(value)
    try:
        if '%' not in text:
            ipaddress.ip_address(text)
            return None
    except ValueError:
        pass
    address, sep, display = text.rpartition(':')
    if sep and re.match(r'^[0-9]+$', display) and '%' not in address:
        if address.startswith('[') and address.endswith(']'):
            address, version = address[1:-1], 6
        else:
            version = 4
        try:
            if ipaddress.ip_address(address).version == version:
                return None
        except ValueError:
            pass
    return ('%r is not an IP address, or an IP address and a display number (ADDRESS or ADDRESS:DISPLAYNUM, for '
            'example 127.0.0.1, 0.0.0.0:1, ::1 or [::1]:1)' % text)


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

def quote(value):
    """Quote a string for xl.cfg. Refuses characters xl's parser cannot carry safely."""
    if not isinstance(value, str):
        value = str(value)
    if '\n' in value or '\r' in value or '\x00' in value:
        raise XlConfigError('value %r contains a line break or NUL, which xl.cfg cannot hold' % value)
    return '"%s"' % value.replace('\\', '\\\\').replace('"', '\\"')


def render_value(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return '[ ]'
        return '[ %s ]' % ', '.join(render_value(v) for v in value)
    return quote(value)


def render(settings, header=None):
    """Render an ordered list of (key, value) pairs (None values skipped) as xl.cfg text.

    Lists with more than one element are written one item per line, so diffs stay readable.
    The output is deterministic: same input, same bytes.
    """
    lines = []
    if header:
        for line in header.splitlines():
            lines.append(('# ' + line).rstrip())
    for key, value in settings:
        if value is None:
            continue
        if not KEY_RE.match(key):
            raise XlConfigError('%r is not a valid xl.cfg key' % key)
        if isinstance(value, (list, tuple)) and len(value) > 1:
            lines.append('%s = [' % key)
            for item in value:
                lines.append('    %s,' % render_value(item))
            lines.append(']')
        else:
            lines.append('%s = %s' % (key, render_value(value)))
    return '\n'.join(lines) + '\n'


# --------------------------------------------------------------------------------------------
# Parsing xl.cfg text (the subset xl accepts: key = string | number | [list], comments, `;`)
# --------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r'''
    (?P<ws>[ \t\r]+)
  | (?P<comment>\#[^\n]*)
  | (?P<nl>\n)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>0x[0-9A-Fa-f]+|[0-9]+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>\+=|[=\[\],;])
''', re.VERBOSE)

_ESCAPES = {'n': '\n', 't': '\t', 'r': '\r', '\\': '\\', '"': '"', "'": "'"}


def _unquote(token):
    body = token[1:-1]
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == '\\' and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        out.append(char)
        i += 1
    return ''.join(out)


def _tokens(text):
    pos = 0
    line = 1
    tokens = []
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match:
            raise XlConfigError('line %d: unexpected character %r' % (line, text[pos]))
        kind = match.lastgroup
        value = match.group(kind)
        if kind == 'nl':
            tokens.append(('nl', value, line))
            line += 1
        elif kind not in ('ws', 'comment'):
            tokens.append((kind, value, line))
        pos = match.end()
    tokens.append(('nl', '\n', line))
    return tokens


def parse(text):
    """Parse xl.cfg text into a dict (last assignment wins, `+=` appends to lists).

    Strings are unquoted, numbers become int, lists become lists. Raises XlConfigError with the
    line number on anything xl would reject.
    """
    tokens = _tokens(text)
    result = {}
    i = 0

    def expect_value(i):
        kind, value, line = tokens[i]
        if kind == 'string':
            return _unquote(value), i + 1
        if kind == 'number':
            return int(value, 0), i + 1
        if kind == 'punct' and value == '[':
            items = []
            i += 1
            while True:
                while tokens[i][0] == 'nl':
                    i += 1
                kind, value, line = tokens[i]
                if kind == 'punct' and value == ']':
                    return items, i + 1
                item, i = expect_value(i)
                if isinstance(item, list):
                    raise XlConfigError('line %d: nested lists are not allowed' % line)
                items.append(item)
                while tokens[i][0] == 'nl':
                    i += 1
                kind, value, line = tokens[i]
                if kind == 'punct' and value == ',':
                    i += 1
                elif not (kind == 'punct' and value == ']'):
                    raise XlConfigError('line %d: expected "," or "]" in list' % line)
        raise XlConfigError('line %d: expected a string, a number or a list' % line)

    while i < len(tokens):
        kind, value, line = tokens[i]
        if kind == 'nl' or (kind == 'punct' and value == ';'):
            i += 1
            continue
        if kind != 'ident':
            raise XlConfigError('line %d: expected a setting name' % line)
        key = value
        op_kind, op, line = tokens[i + 1]
        if op_kind != 'punct' or op not in ('=', '+='):
            raise XlConfigError('line %d: expected "=" after %s' % (line, key))
        val, i = expect_value(i + 2)
        if op == '+=':
            if not isinstance(val, list):
                raise XlConfigError('line %d: "+=" needs a list' % line)
            previous = result.get(key, [])
            if not isinstance(previous, list):
                raise XlConfigError('line %d: "+=" on %s, which is not a list' % (line, key))
            val = previous + val
        result[key] = val
        kind, value, line = tokens[i]
        if not (kind == 'nl' or (kind == 'punct' and value == ';')):
            raise XlConfigError('line %d: unexpected text after the value of %s' % (line, key))
    return result


# --------------------------------------------------------------------------------------------
# Disks: xl-disk-configuration(5)
# --------------------------------------------------------------------------------------------

DISK_FORMATS = ('raw', 'qcow', 'qcow2', 'vhd', 'qed')
DISK_ACCESS = ('rw', 'ro')
DISK_BACKENDS = ('phy', 'qdisk', 'tap', 'standalone')
VDEV_RE = re.compile(r'^(xvd[a-z]{1,2}|hd[a-z]|sd[a-z]{1,2}|d[0-9]+p[0-9]+|[0-9]+)$')


def disk_spec(disk):
    """Render one disk dict as xl's canonical `key=value, ..., target=PATH` string.

    disk: target (path, required unless cdrom without media), vdev (required), format (raw),
    access (rw; ro for cdroms), cdrom (bool), backendtype (optional), script (optional).
    `target=` must come last: xl takes the rest of the string as the path.
    """
    parts = ['format=%s' % (disk.get('format') or 'raw'), 'vdev=%s' % disk['vdev']]
    cdrom = bool(disk.get('cdrom'))
    access = disk.get('access') or ('ro' if cdrom else 'rw')
    parts.append('access=%s' % access)
    if cdrom:
        parts.append('devtype=cdrom')
    if disk.get('backendtype'):
        parts.append('backendtype=%s' % disk['backendtype'])
    if disk.get('script'):
        parts.append('script=%s' % disk['script'])
    target = disk.get('target')
    if target:
        parts.append('target=%s' % target)
    return ', '.join(parts)


def disk_problem(disk):
    """Why this disk dict is malformed, or None."""
    vdev = disk.get('vdev')
    if not vdev:
        return 'vdev is required'
    if not VDEV_RE.match(str(vdev)):
        return 'vdev %r is not a virtual device name such as xvda, hda or sda' % vdev
    fmt = disk.get('format') or 'raw'
    if fmt not in DISK_FORMATS:
        return 'format %r is not one of %s' % (fmt, ', '.join(DISK_FORMATS))
    access = disk.get('access')
    if access is not None and access not in DISK_ACCESS:
        return 'access %r is not one of rw, ro' % access
    if disk.get('backendtype') and disk['backendtype'] not in DISK_BACKENDS:
        return 'backendtype %r is not one of %s' % (disk['backendtype'], ', '.join(DISK_BACKENDS))
    target = disk.get('target')
    if not target and not disk.get('cdrom'):
        return 'target (the image file or block device) is required'
    if target and not str(target).startswith('/'):
        return 'target %r must be an absolute path' % target
    for key in ('target', 'script'):
        value = disk.get(key)
        if value and (',' in str(value) and key != 'target' or '\n' in str(value)):
            return '%s %r contains characters xl cannot parse' % (key, value)
    return None


def parse_disk_spec(spec):
    """Read an xl disk spec (canonical or positional `target,format,vdev,access`) into a dict."""
    spec = spec.strip()
    result = {}
    if '=' not in spec.split(',')[0] and not spec.startswith('target='):
        # positional: target, format, vdev, access [, devtype]
        parts = [p.strip() for p in spec.split(',')]
        keys = ('target', 'format', 'vdev', 'access')
        for key, value in zip(keys, parts):
            if value:
                result[key] = value
        if len(parts) > 4 and parts[4] in ('cdrom', 'devtype=cdrom'):
            result['cdrom'] = True
    else:
        rest = spec
        while rest:
            rest = rest.lstrip(' ,')
            if not rest:
                break
            if rest.startswith('target='):
                result['target'] = rest[len('target='):].strip()
                break
            item, _sep, rest = rest.partition(',')
            key, eq, value = item.strip().partition('=')
            if not eq:
                if key in ('cdrom', 'devtype=cdrom'):
                    result['cdrom'] = True
                    continue
                raise XlConfigError('disk spec %r: %r is not key=value' % (spec, item))
            key, value = key.strip(), value.strip()
            if key == 'devtype':
                result['cdrom'] = value == 'cdrom'
            else:
                result[key] = value
    result.setdefault('format', 'raw')
    result.setdefault('access', 'ro' if result.get('cdrom') else 'rw')
    result['cdrom'] = bool(result.get('cdrom'))
    if result.get('format') == 'aio':
        result['format'] = 'raw'
    return result


# --------------------------------------------------------------------------------------------
# Network interfaces: xl-network-configuration(5)
# --------------------------------------------------------------------------------------------

VIF_KEYS = ('mac', 'bridge', 'type', 'model', 'vifname', 'script', 'ip', 'rate', 'mtu', 'backend')
MAC_RE = re.compile(r'^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$')
VIF_TYPES = ('vif', 'ioemu')
# Linux network interface names (dev_valid_name): at most IFNAMSIZ - 1 characters, not "." or "..",
# no "/", ":" or white space.
IFNAME_MAX = 15


def ifname_problem(name):
    """Why `name` cannot be a Linux network interface name (a bridge, a vif), or None."""
    name = str(name)
    if not name:
        return 'must not be empty'
    if len(name) > IFNAME_MAX:
        return 'is longer than %d characters, the limit of a Linux interface name' % IFNAME_MAX
    if name in ('.', '..'):
        return 'must not be "." or ".."'
    bad = sorted(set(c for c in name if c in '/:,=' or c.isspace() or not c.isprintable()))
    if bad:
        return ('must not contain %s (Linux interface names have no "/", ":" or white space; xl reads "," '
                'and "=" as separators)' % ', '.join(repr(c) for c in bad))
    return None


def vif_spec(vif):
    """Render one vif dict as `key=value,...` in a fixed key order (None values skipped)."""
    parts = []
    for key in VIF_KEYS:
        value = vif.get(key)
        if value is None or value == '':
            continue
        if key == 'mac':
            value = str(value).lower()
        parts.append('%s=%s' % (key, value))
    return ','.join(parts)


def vif_problem(vif):
    for key, value in vif.items():
        if key not in VIF_KEYS:
            return 'unknown vif key %r (allowed: %s)' % (key, ', '.join(VIF_KEYS))
        if value is not None and (',' in str(value) or '=' in str(value) or '\n' in str(value)):
            return '%s %r must not contain ",", "=" or a line break' % (key, value)
    bridge = vif.get('bridge')
    if bridge not in (None, ''):
        problem = ifname_problem(bridge)
        if problem:
            return 'bridge %r %s' % (bridge, problem)
    mac = vif.get('mac')
    if mac and not MAC_RE.match(str(mac)):
        return 'mac %r is not a MAC address like 00:16:3e:12:34:56' % mac
    if mac and int(str(mac).split(':', 1)[0], 16) & 1:
        return 'mac %r is a multicast address' % mac
    if vif.get('type') and vif['type'] not in VIF_TYPES:
        return 'type %r is not one of %s' % (vif['type'], ', '.join(VIF_TYPES))
    return None


def parse_vif_spec(spec):
    result = {}
    for item in spec.split(','):
        item = item.strip()
        if not item:
            continue
        key, eq, value = item.partition('=')
        if not eq:
            raise XlConfigError('vif spec %r: %r is not key=value' % (spec, item))
        key = key.strip()
        value = value.strip()
        result[key] = value.lower() if key == 'mac' else value
    return result


# --------------------------------------------------------------------------------------------
# Editing an existing file: set or remove keys, keep everything else (comments included)
# --------------------------------------------------------------------------------------------

def _assignment_spans(text):
    """(key, first_line, last_line) of every top-level assignment, from the tokenizer."""
    tokens = _tokens(text)
    spans = []
    i = 0
    depth = 0
    current = None
    while i < len(tokens):
        kind, value, line = tokens[i]
        if kind == 'ident' and depth == 0 and current is None and i + 1 < len(tokens) \
                and tokens[i + 1][0] == 'punct' and tokens[i + 1][1] in ('=', '+='):
            current = [value, line, line]
        elif kind == 'punct' and value == '[':
            depth += 1
        elif kind == 'punct' and value == ']':
            depth -= 1
        if current is not None:
            current[2] = line
            if depth == 0 and (kind == 'nl' or (kind == 'punct' and value == ';')) and line >= current[1]:
                if kind == 'nl':
                    current[2] = line
                spans.append(tuple(current))
                current = None
        i += 1
    return spans


def set_keys(text, updates):
    """Return `text` with each key of `updates` set to its value (None removes the key).

    Existing single-line assignments are replaced in place; keys that span several lines
    (lists) are replaced as a whole; new keys are appended at the end. Everything else,
    comments included, is kept. The result is checked to parse.
    """
    parse(text)  # refuse to edit a file xl would not read
    lines = text.splitlines(True)
    if lines and not lines[-1].endswith('\n'):
        lines[-1] += '\n'
    spans = _assignment_spans(text)
    remaining = dict(updates)
    drop = set()
    replace_at = {}
    for key, first, last in spans:
        if key not in updates:
            continue
        if any(';' in lines[n - 1] for n in range(first, last + 1)):
            raise XlConfigError('line %d: cannot edit %s on a line with other settings (";")' % (first, key))
        for n in range(first, last + 1):
            drop.add(n)
        if remaining.get(key, None) is not None or key in remaining:
            value = remaining.pop(key, None)
            if value is not None:
                replace_at[first] = render([(key, value)])
    out = []
    for number, line in enumerate(lines, 1):
        if number in replace_at:
            out.append(replace_at[number])
        elif number not in drop:
            out.append(line)
    tail = [(k, v) for k, v in remaining.items() if v is not None]
    if tail:
        out.append(render(tail))
    result = ''.join(out)
    parse(result)
    return result
