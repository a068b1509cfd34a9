# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# A cloud-init NoCloud seed, as data: validate the task's user_data, meta_data and network_config;
# render the three files (user-data, meta-data, network-config) deterministically; compute the
# seed's content id (a SHA-256 of what goes into the image); and read the content id back from an
# existing image (ISO 9660: the primary volume descriptor's volume set identifier; VFAT: the file
# xenfleet.id in the root directory), so that "is the seed up to date" never depends on the image
# tool's timestamps. Pure: no I/O (the image readers take a read(offset, length) function).
#
# Facts from cloud-init 22.4.2 (Debian 12's package, read in its source):
# - NoCloud finds a vfat or iso9660 file system labelled cidata or CIDATA and needs /user-data and
#   /meta-data on it, /network-config optional (sources/DataSourceNoCloud.py).
# - meta-data, network-config and #cloud-config user-data are read with yaml.load and a SafeLoader
#   (util.load_yaml, safeyaml.load): PyYAML, YAML 1.1.
# - User-data's type comes from how it starts, case-insensitive, after leading white space
#   (handlers.type_from_starts_with, INCLUSION_TYPES_MAP), or MIME when `mime-version:` appears in
#   its first 4096 bytes (user_data.convert_string).
# - Network config version 2 is the mapping itself (`version: 2` at the top; a top-level `network:`
#   key is removed); the keys it handles are ethernets, bonds, bridges, vlans and wifis
#   (net/network_state.py, parse_config_v2), anything else fails there.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math

import hashlib
import ipaddress
import json
import re
import struct

from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec

FORMATS = ('iso', 'vfat')
LABEL = 'cidata'
# FAT stores labels in upper case; cloud-init looks for both spellings.
VFAT_LABEL = 'CIDATA'
# The version of this layout: part of the content id, so a change of the layout rebuilds seeds.
LAYOUT = 'xenfleet-seed-1'
ID_FILE = 'xenfleet.id'
USER_DATA = 'user-data'
META_DATA = 'meta-data'
NETWORK_CONFIG = 'network-config'

# The headers of user-data that cloud-init recognises (handlers/__init__.py, INCLUSION_TYPES_MAP);
# text/x-shellscript-per-* are MIME-only and left out.
USER_DATA_HEADERS = ('#cloud-config', '#cloud-config-archive', '#cloud-config-jsonp', '#!', '#include',
                     '#include-once', '#part-handler', '#cloud-boothook', '## template: jinja')
NETWORK_KEYS = ('version', 'renderer', 'ethernets', 'bonds', 'bridges', 'vlans', 'wifis')
DEVICE_KEYS = ('ethernets', 'bonds', 'bridges', 'vlans', 'wifis')

INSTANCE_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$')
HOSTNAME_LABEL_RE = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
MAC_RE = re.compile(r'^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$')

# YAML 1.1 words that PyYAML reads as booleans or null when unquoted (keys we write plain must not be one)
_YAML_WORDS = frozenset(('y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null'))
_PLAIN_KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_-]*$')
# characters JSON leaves raw that YAML refuses (PyYAML's reader.py NON_PRINTABLE) or reads as a line break
# inside a quoted scalar (NEL, LS, PS): written as escapes
_ESCAPE_RE = re.compile(u'[^\x09\x0A\x0D\x20-\x7E\xA0-\u2027\u202A-\uD7FF\uE000-\uFEFE\uFF00-\uFFFD\U00010000-\U0010FFFF]')


# --------------------------------------------------------------------------------------------
# A small deterministic YAML emitter
# --------------------------------------------------------------------------------------------

class RenderError(ValueError):
    """A value that cannot be written as YAML (its path in the data says where)."""


def _quote(text):
    """A YAML double-quoted scalar: JSON's string syntax is one (its escapes \\" \\\\ \\b \\f \\n \\r \\t
    \\uXXXX are YAML's too); characters YAML does not allow raw are escaped as well."""
    quoted = json.dumps(text, ensure_ascii=False)
    return _ESCAPE_RE.sub(lambda m: '\\u%04x' % ord(m.group(0)), quoted)


def _scalar(value, where):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return '.nan'
        if value in (float('inf'), float('-inf')):
            return '.inf' if value > 0 else '-.inf'
        text = repr(value)
        # PyYAML (YAML 1.1) reads 1e-05 as a string: it wants a dot and a signed exponent
        if 'e' in text and '.' not in text.split('e')[0]:
            mantissa, exponent = text.split('e')
            text = '%s.0e%s' % (mantissa, exponent)
        if 'e' in text and text.split('e')[1][0] not in '+-':
            text = text.replace('e', 'e+')
        return text
    if isinstance(value, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise RenderError('%s: the text is not valid Unicode' % where)
        return _quote(value)
    raise RenderError('%s: a %s cannot be written as YAML (use text, numbers, true/false, lists and mappings)'
                      % (where, type(value).__name__))


def _key(key, where):
    if isinstance(key, str):
        if _PLAIN_KEY_RE.match(key) and key.lower() not in _YAML_WORDS:
            return key
        return _scalar(key, where)
    if isinstance(key, (bool, int)) or key is None:
        return _scalar(key, where)
    raise RenderError('%s: the key %r cannot be written as YAML' % (where, key))


def _sort_key(key):
    return (type(key).__name__, str(key))


def _emit_mapping(mapping, indent, where, lines, dash=False):
    """Block mapping lines at `indent`; with `dash`, the first key shares the line of a list item's `- `."""
    for number, key in enumerate(sorted(mapping, key=_sort_key)):
        sub = '%s.%s' % (where, key)
        if dash and number == 0:
            head = '%s- %s' % (' ' * (indent - 2), _key(key, sub))
        else:
            head = '%s%s' % (' ' * indent, _key(key, sub))
        _emit_value(mapping[key], indent, sub, lines, head)


def _emit_value(value, indent, where, lines, head):
    if isinstance(value, dict) and value:
        lines.append('%s:' % head)
        _emit_mapping(value, indent + 2, where, lines)
    elif isinstance(value, (list, tuple)) and value:
        lines.append('%s:' % head)
        _emit_list(value, indent + 2, where, lines)
    else:
        lines.append('%s: %s' % (head, _flow(value, where)))


def _emit_list(items, indent, where, lines):
    for index, item in enumerate(items):
        sub = '%s[%d]' % (where, index)
        if isinstance(item, dict) and item:
            _emit_mapping(item, indent + 2, sub, lines, dash=True)
        elif isinstance(item, (list, tuple)) and item:
            lines.append('%s-' % (' ' * indent))
            _emit_list(item, indent + 2, sub, lines)
        else:
            lines.append('%s- %s' % (' ' * indent, _flow(item, sub)))


def _flow(value, where):
    if isinstance(value, dict):
        return '{}'
    if isinstance(value, (list, tuple)):
        return '[]'
    return _scalar(value, where)


def to_yaml(data, where='value'):
    """`data` (a mapping) as block YAML: keys sorted, text always double-quoted (no YAML 1.1 surprises such as
    `no` becoming false or 0644 an octal number), the same text for the same data. Ends with a newline."""
    if not isinstance(data, dict):
        raise RenderError('%s: must be a mapping' % where)
    if not data:
        return '{}\n'
    lines = []
    _emit_mapping(data, 0, where, lines)
    return '\n'.join(lines) + '\n'


# --------------------------------------------------------------------------------------------
# Validation and rendering
# --------------------------------------------------------------------------------------------

def user_data_header(text):
    """The cloud-init header `text` starts with (as cloud-init reads it), 'mime' for a MIME message, or None."""
    head = text.lstrip().lower()
    for header in sorted(USER_DATA_HEADERS, key=len, reverse=True):
        if head.startswith(header):
            return header
    if 'mime-version:' in text[:4096].lower():
        return 'mime'
    return None


def render_user_data(value):
    """user-data text from the task's user_data: a mapping becomes #cloud-config YAML; text is kept as given
    when cloud-init recognises its type. None is an empty #cloud-config."""
    if value is None:
        value = {}
    if isinstance(value, dict):
        try:
            return '#cloud-config\n' + to_yaml(value, 'user_data')
        except RenderError as exc:
            raise InvalidSpec('user_data', str(exc))
    if isinstance(value, str):
        if user_data_header(value) is None:
            raise InvalidSpec('user_data', 'text must start with a header cloud-init recognises (%s) or be a MIME '
                                           'multi-part message; give a mapping to have it written as #cloud-config'
                                           % ', '.join(USER_DATA_HEADERS))
        return value if value.endswith('\n') else value + '\n'
    raise InvalidSpec('user_data', 'must be a mapping (written as #cloud-config) or text, got %s'
                      % type(value).__name__)


def hostname_problem(name):
    if not isinstance(name, str) or not name:
        return 'must be a host name'
    if len(name) > 253:
        return '%r is longer than 253 characters' % name
    for label in name.rstrip('.').split('.'):
        if not HOSTNAME_LABEL_RE.match(label):
            return ('%r is not a host name: labels of letters, digits and hyphens (not first or last), at most 63 '
                    'characters each, separated by dots' % name)
    return None


def check_meta_data(meta):
    """Refuse meta_data that cloud-init would misread; returns it (a copy)."""
    meta = dict(meta or {})
    for wrong, right in (('instance_id', 'instance-id'), ('local_hostname', 'local-hostname'),
                         ('hostname', 'local-hostname')):
        if wrong in meta:
            raise InvalidSpec('meta_data', 'key %r: cloud-init reads %r' % (wrong, right))
    iid = meta.get('instance-id')
    if iid is not None and (not isinstance(iid, str) or not INSTANCE_ID_RE.match(iid)):
        raise InvalidSpec('meta_data', "instance-id %r: 1 to 128 letters, digits, '.', '_', ':' or '-', starting "
                                       'with a letter or digit (cloud-init names a directory after it)' % (iid,))
    if 'local-hostname' in meta:
        problem = hostname_problem(meta['local-hostname'])
        if problem:
            raise InvalidSpec('meta_data', 'local-hostname %s' % problem)
    return meta


def _ip_problem(value, version=None, cidr=False):
    text = str(value)
    try:
        if cidr:
            if '/' not in text:
                return '%r has no prefix length (write it as address/prefix, e.g. 192.0.2.10/24)' % text
            addr = ipaddress.ip_interface(text)
        else:
            addr = ipaddress.ip_address(text)
    except ValueError:
        return '%r is not an IP %s' % (text, 'address with a prefix length' if cidr else 'address')
    if version and addr.version != version:
        return '%r is not an IPv%d address' % (text, version)
    return None


def _check_device(kind, name, dev):
    where = '%s.%s' % (kind, name)
    if not isinstance(dev, dict):
        raise InvalidSpec('network_config', '%s must be a mapping' % where)
    for key in ('dhcp4', 'dhcp6'):
        if key in dev and not isinstance(dev[key], bool):
            raise InvalidSpec('network_config', '%s.%s must be true or false, got %r' % (where, key, dev[key]))
    addresses = dev.get('addresses', [])
    if not isinstance(addresses, list):
        raise InvalidSpec('network_config', '%s.addresses must be a list of address/prefix' % where)
    for address in addresses:
        problem = _ip_problem(address, cidr=True)
        if problem:
            raise InvalidSpec('network_config', '%s.addresses: %s' % (where, problem))
    for key, version in (('gateway4', 4), ('gateway6', 6)):
        if key in dev:
            problem = _ip_problem(dev[key], version)
            if problem:
                raise InvalidSpec('network_config', '%s.%s: %s' % (where, key, problem))
    routes = dev.get('routes', [])
    if not isinstance(routes, list) or not all(isinstance(r, dict) for r in routes):
        raise InvalidSpec('network_config', '%s.routes must be a list of mappings with to and via' % where)
    for route in routes:
        to, via = route.get('to'), route.get('via')
        if to is None or via is None:
            raise InvalidSpec('network_config', '%s.routes: each route needs to and via, got %r' % (where, route))
        if to != 'default':
            problem = _ip_problem(to, cidr=True)
            if problem:
                raise InvalidSpec('network_config', '%s.routes: to %s' % (where, problem))
        problem = _ip_problem(via)
        if problem:
            raise InvalidSpec('network_config', '%s.routes: via %s' % (where, problem))
    nameservers = dev.get('nameservers', {})
    if not isinstance(nameservers, dict):
        raise InvalidSpec('network_config', '%s.nameservers must be a mapping (addresses, search)' % where)
    servers = nameservers.get('addresses', [])
    if not isinstance(servers, list):
        raise InvalidSpec('network_config', '%s.nameservers.addresses must be a list' % where)
    for server in servers:
        problem = _ip_problem(server)
        if problem:
            raise InvalidSpec('network_config', '%s.nameservers.addresses: %s' % (where, problem))
    if not isinstance(nameservers.get('search', []), list):
        raise InvalidSpec('network_config', '%s.nameservers.search must be a list of domains' % where)
    match = dev.get('match', {})
    if not isinstance(match, dict):
        raise InvalidSpec('network_config', '%s.match must be a mapping (macaddress, name, driver)' % where)
    for mac in (match.get('macaddress'), dev.get('macaddress')):
        if mac is not None and not MAC_RE.match(str(mac)):
            raise InvalidSpec('network_config', '%s: %r is not a MAC address such as 00:16:3e:12:34:56'
                              % (where, mac))
    if 'mtu' in dev and (isinstance(dev['mtu'], bool) or not isinstance(dev['mtu'], int) or dev['mtu'] < 68):
        raise InvalidSpec('network_config', '%s.mtu must be a number of bytes (68 or more), got %r' % (where, dev['mtu']))


def check_network_config(config):
    """Refuse network config that is not cloud-init's version 2; returns the mapping to write (a top-level
    `network:` key, as in netplan files, is unwrapped)."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise InvalidSpec('network_config', 'must be a mapping (cloud-init network config version 2)')
    if list(config) == ['network'] and isinstance(config['network'], dict):
        config = config['network']
    if config.get('version') != 2 or isinstance(config.get('version'), bool):
        raise InvalidSpec('network_config', 'version must be 2 (cloud-init network config version 2, the netplan '
                                            'format), got %r' % (config.get('version'),))
    unknown = sorted(str(k) for k in config if k not in NETWORK_KEYS)
    if unknown:
        raise InvalidSpec('network_config', 'unknown key %s; cloud-init handles %s'
                          % (', '.join(unknown), ', '.join(NETWORK_KEYS)))
    if not any(config.get(k) for k in DEVICE_KEYS):
        raise InvalidSpec('network_config', 'declares no interface: give ethernets (or bonds, bridges, vlans)')
    for kind in DEVICE_KEYS:
        devices = config.get(kind)
        if devices is None:
            continue
        if not isinstance(devices, dict):
            raise InvalidSpec('network_config', '%s must be a mapping of interface names to settings' % kind)
        for name, dev in devices.items():
            if not isinstance(name, str) or not name:
                raise InvalidSpec('network_config', '%s: %r is not an interface name' % (kind, name))
            _check_device(kind, name, dev)
    return config


class Seed(object):
    """The rendered seed: `files` (name -> bytes, in the order they are written), instance_id, content_id."""

    def __init__(self, files, instance_id, content_id, fmt):
        self.files = files
        self.instance_id = instance_id
        self.content_id = content_id
        self.format = fmt

    @property
    def id_line(self):
        """What the image records: the layout and the content id (also the ISO volume set identifier)."""
        return '%s %s' % (LAYOUT, self.content_id)

    def redacted(self):
        """The seed as a diff may show it: meta-data and network-config as text, user-data as a digest only."""
        shown = {'format': self.format, 'content_id': self.content_id, 'instance-id': self.instance_id,
                 META_DATA: self.files[META_DATA].decode('utf-8')}
        if NETWORK_CONFIG in self.files:
            shown[NETWORK_CONFIG] = self.files[NETWORK_CONFIG].decode('utf-8')
        shown[USER_DATA] = redact(self.files[USER_DATA])
        return shown


def redact(data):
    return '(hidden: %d bytes, sha256 %s)' % (len(data), hashlib.sha256(data).hexdigest()[:16])


def _digest(files, fmt=None):
    sha = hashlib.sha256()
    sha.update(LAYOUT.encode('ascii') + b'\0')
    if fmt:
        sha.update(fmt.encode('ascii') + b'\0')
    for name in sorted(files):
        sha.update(name.encode('ascii') + b'\0' + str(len(files[name])).encode('ascii') + b'\0' + files[name])
    return sha.hexdigest()


def render(user_data, meta_data, network_config, fmt):
    """Validate and render a seed (raises InvalidSpec naming the option). The default instance-id is
    derived from the other inputs, so a seed whose content changes gets a new one."""
    if fmt not in FORMATS:
        raise InvalidSpec('format', 'must be one of %s, got %r' % (', '.join(FORMATS), fmt))
    if meta_data is not None and not isinstance(meta_data, dict):
        raise InvalidSpec('meta_data', 'must be a mapping (instance-id, local-hostname, ...)')
    meta = check_meta_data(meta_data)
    network = check_network_config(network_config)
    files = {USER_DATA: render_user_data(user_data).encode('utf-8')}
    if network is not None:
        try:
            files[NETWORK_CONFIG] = to_yaml(network, 'network_config').encode('utf-8')
        except RenderError as exc:
            raise InvalidSpec('network_config', str(exc))
    if meta.get('instance-id') is None:
        try:
            basis = dict(files, **{META_DATA: to_yaml(meta, 'meta_data').encode('utf-8')})
        except RenderError as exc:
            raise InvalidSpec('meta_data', str(exc))
        meta['instance-id'] = 'iid-%s' % _digest(basis)[:20]
    try:
        files[META_DATA] = to_yaml(meta, 'meta_data').encode('utf-8')
    except RenderError as exc:
        raise InvalidSpec('meta_data', str(exc))
    ordered = dict((name, files[name]) for name in (META_DATA, USER_DATA, NETWORK_CONFIG) if name in files)
    return Seed(ordered, meta['instance-id'], 'sha256:%s' % _digest(ordered, fmt), fmt)


def path_problem(path):
    if not isinstance(path, str) or not path.startswith('/'):
        return '%r is not an absolute path: give the seed image file, e.g. /var/lib/xen/seed/web1.iso' % (path,)
    if path.endswith('/'):
        return '%r names a directory: give the seed image file, e.g. %sweb1.iso' % (path, path)
    return None


# --------------------------------------------------------------------------------------------
# Reading an image back (pure: `read(offset, length)` returns the bytes there, fewer at the end)
# --------------------------------------------------------------------------------------------

ISO_PVD = 16 * 2048


def _text(raw):
    return raw.decode('latin-1').rstrip(' \0')


def read_iso(read):
    """(label, recorded id line) of an ISO 9660 image, or None when it is not one: the primary volume
    descriptor (sector 16) holds the volume identifier at byte 40 and the volume set identifier at 190."""
    pvd = read(ISO_PVD, 2048)
    if len(pvd) < 2048 or pvd[0:1] != b'\x01' or pvd[1:6] != b'CD001':
        return None
    return _text(pvd[40:72]), _text(pvd[190:318])


def read_vfat(read):
    """(label, recorded id line) of a FAT12/16 image, or None when it is not one: the label from the boot
    sector, the id from the file xenfleet.id in the root directory (its first cluster)."""
    boot = read(0, 512)
    if len(boot) < 512 or boot[510:512] != b'\x55\xaa' or boot[54:57] != b'FAT':
        return None
    bps, spc, reserved, nfats, root_entries = struct.unpack_from('<HBHBH', boot, 11)
    fat_size = struct.unpack_from('<H', boot, 22)[0]
    if not bps or not spc or not root_entries:
        return None
    root = (reserved + nfats * fat_size) * bps
    data = root + root_entries * 32
    entries = read(root, root_entries * 32)
    stem, _dot, ext = ID_FILE.upper().partition('.')
    short = (stem.ljust(8) + ext.ljust(3)).encode('ascii')
    recorded = ''
    for offset in range(0, len(entries) - 31, 32):
        entry = entries[offset:offset + 32]
        if entry[0:1] == b'\0':
            break
        if entry[0:1] == b'\xe5' or entry[11] & 0x0f == 0x0f or entry[11] & 0x18:
            continue
        if entry[0:11].upper() == short:
            cluster, size = struct.unpack_from('<HI', entry, 26)
            if cluster >= 2 and size <= bps * spc:
                recorded = read(data + (cluster - 2) * spc * bps, size).decode('latin-1').strip()
            break
    return _text(boot[43:54]), recorded


def read_image(read):
    """What an existing image says about itself: {'format', 'label', 'id_line'}, or None when it is neither
    an ISO 9660 nor a FAT image."""
    for fmt, reader in (('iso', read_iso), ('vfat', read_vfat)):
        found = reader(read)
        if found is not None:
            return {'format': fmt, 'label': found[0], 'id_line': found[1]}
    return None


def content_id_of(image):
    """The content id recorded in an image read by read_image (None when the image has none)."""
    if not image:
        return None
    words = image['id_line'].split()
    if len(words) == 2 and words[0] == LAYOUT and words[1].startswith('sha256:'):
        return words[1]
    return None


def up_to_date(image, seed):
    """Whether the image on disk is this seed: same format, label cidata and the same content id."""
    if not image or image['format'] != seed.format:
        return False
    label = LABEL if seed.format == 'iso' else VFAT_LABEL
    return image['label'] == label and content_id_of(image) == seed.content_id


def vfat_size_kib(seed):
    """Size of a VFAT seed image in KiB: the files with room to spare, at least 1 MiB (FAT12)."""
    total = sum(len(data) for data in seed.files.values()) + len(seed.id_line) + 1
    return max(1024, 256 + 2 * ((total + 1023) // 1024))
