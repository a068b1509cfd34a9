# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The one place that builds xl command lines: a named verb per xl subcommand, each returning the
# argv after `xl` as a list of strings. The client prefixes the local xl (XlClient.run) or the
# remote one over ssh (XlClient.run_remote_xl); a shell script run on another dom0 quotes the same
# lists (remote_words). Pure: no I/O. A new xl subcommand gets its verb here, nowhere else.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import shlex


def _s(value):
    return str(value)


# -- reads ------------------------------------------------------------------------------------

def info():
    return ['info']


def list_rows(domain=None):
    return ['list'] + ([_s(domain)] if domain is not None else [])


def list_long():
    return ['list', '-l']


def vcpu_list(domain=None):
    return ['vcpu-list'] + ([_s(domain)] if domain is not None else [])


# -- domain lifecycle -------------------------------------------------------------------------

def create(config_path, paused=False):
    return ['create'] + (['-p'] if paused else []) + [_s(config_path)]


def dry_run_create(config_path):
    """`xl -N create FILE`: parse and check the file, create nothing."""
    return ['-N', 'create', _s(config_path)]


def shutdown(domain, acpi=False):
    """Graceful shutdown, waiting (-w) until the domain is gone; acpi=True presses the power button
    (-F), for HVM guests without PV drivers."""
    return ['shutdown'] + (['-F'] if acpi else []) + ['-w', _s(domain)]


def destroy(domain):
    """`xl destroy NAME|DOMID`."""
    return ['destroy', _s(domain)]


def save(domain, path):
    """`xl save NAME FILE`: suspend the domain, write its memory and config to FILE, destroy it."""
    return ['save', _s(domain), _s(path)]


def restore(path, paused=False):
    """`xl restore [-p] FILE`: the domain comes back from FILE with the config saved in it."""
    return ['restore'] + (['-p'] if paused else []) + [_s(path)]


def pause(domain):
    return ['pause', _s(domain)]


def unpause(domain):
    return ['unpause', _s(domain)]


# -- live changes -----------------------------------------------------------------------------

def mem_set(domain, mib):
    return ['mem-set', _s(domain), '%dm' % mib]


def vcpu_set(domain, count, ignore_host=False):
    return ['vcpu-set'] + (['--ignore-host'] if ignore_host else []) + [_s(domain), _s(count)]


def vcpu_pin(domain, vcpu, hard, soft):
    """Pin one vCPU; `hard`/`soft` are cpu lists, '-' leaves that affinity alone."""
    return ['vcpu-pin', _s(domain), _s(vcpu), _s(hard), _s(soft)]


SCHEDULERS = ('credit2', 'credit')


def sched(scheduler, domain, weight=None, cap=None):
    """`xl sched-credit2|sched-credit -d NAME [-w WEIGHT] [-c CAP]`."""
    if scheduler not in SCHEDULERS:
        raise ValueError('no xl verb for scheduler %r' % (scheduler,))
    args = ['sched-%s' % scheduler, '-d', _s(domain)]
    if weight is not None:
        args += ['-w', _s(weight)]
    if cap is not None:
        args += ['-c', _s(cap)]
    return args


def block_attach(domain, disk_spec):
    """`disk_spec` is an xl disk specification string (_xl_config.disk_spec)."""
    return ['block-attach', _s(domain), _s(disk_spec)]


def block_detach(domain, vdev):
    return ['block-detach', _s(domain), _s(vdev)]


def network_attach(domain, vif_spec):
    """`vif_spec` is an xl vif specification string (_xl_config.vif_spec); xl takes its items as words."""
    return ['network-attach', _s(domain)] + _s(vif_spec).split(',')


def network_detach(domain, devid):
    return ['network-detach', _s(domain), _s(devid)]


# -- migration --------------------------------------------------------------------------------

def migrate(domain, host, sshcmd):
    """`xl migrate -s SSHCMD NAME HOST`: xl runs `sh -c "exec SSHCMD HOST xl migrate-receive"`."""
    return ['migrate', '-s', _s(sshcmd), _s(domain), _s(host)]


# -- on another dom0 --------------------------------------------------------------------------

REMOTE_XL = 'xl'


def remote_words(args, xl=REMOTE_XL):
    """The xl command `args` as one shell-quoted string, for a script run on another dom0."""
    return ' '.join(shlex.quote(a) for a in [xl] + list(args))


# -- the inventory plugin's probe of a dom0 (xenfleet.xen.xen) ----------------------------------

INVENTORY_MARK = '@@XENFLEET-INVENTORY@@'
NET_DIR = '/sys/class/net'


def inventory_probe(neigh, host_info=False, xl=REMOTE_XL, net_dir=NET_DIR):
    """The POSIX sh script the inventory plugin runs on a dom0 (one ssh round trip): `xl list -l`, `xl list`,
    the neighbour table (`neigh`: its argv, _host_cmd.ip_neigh()) and each bridge's ports; with host_info also
    `xl info` and /proc/cmdline (the dom0's own facts).

    Every section is `MARK section NAME`, the command's stdout, `MARK end NAME RC` (RC: the command's exit
    status; an echo first ends the output's last line); stderr goes to ssh's stderr. The bridges section has
    one line per bridge: its name then its ports (/sys/class/net/BR/brif). `MARK done` closes a complete run.
    Anything before the first marker is a login banner. Pure: the text only (_inventory.parse_probe reads it).
    """
    q = shlex.quote
    lines = [
        'LC_ALL=C; LANG=C; LANGUAGE=C; export LC_ALL LANG LANGUAGE',
        'M=%s' % q(INVENTORY_MARK),
        'echo "$M begin"',
    ]

    def section(name, words):
        lines.append('echo "$M section %s"; %s; r=$?; echo; echo "$M end %s $r"' % (name, words, name))

    section('list_long', remote_words(list_long(), xl))
    section('list', remote_words(list_rows(), xl))
    section('neigh', ' '.join(q(str(word)) for word in neigh))
    lines.append('echo "$M section bridges"')
    lines.append('for d in %s/*/bridge; do [ -d "$d" ] || continue; b=${d%%/bridge}; printf %%s "${b##*/}"; '
                 'for p in "$b"/brif/*; do [ -e "$p" ] && printf " %%s" "${p##*/}"; done; echo; done' % q(net_dir))
    lines.append('echo "$M end bridges 0"')
    if host_info:
        section('info', remote_words(info(), xl))
        section('cmdline', 'cat /proc/cmdline')
    lines.append('echo "$M done"')
    return '\n'.join(lines) + '\n'
