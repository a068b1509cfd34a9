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
