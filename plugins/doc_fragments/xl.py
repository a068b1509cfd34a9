# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # Options shared by every module that runs xl.
    DOCUMENTATION = r'''
options:
  xl_path:
    description:
      - Path of the C(xl) command on the Xen host.
      - When not set, C(xl) is looked up in E(PATH), C(/usr/sbin) and C(/usr/local/sbin).
      - Set it once for all modules of this collection with C(module_defaults) and the
        C(group/xenfleet.xen.xen) action group.
    type: path
  command_timeout:
    description:
      - Upper bound in seconds for each C(xl) call, and for each call of the other host tools a module
        runs (C(qemu-img), LVM, C(xorriso)) unless the module has its own timeout for a long copy.
        C(xl) can block indefinitely (for example on C(/var/lock/xl) or a guest that ignores a shutdown
        request); a call that exceeds it is stopped and the module fails with RV(error=timeout).
    type: int
    default: 120
requirements:
  - A Xen host (dom0) with the C(xl) toolstack of Xen 4.x (tested with Xen 4.17 and 4.20).
  - Run as root (C(become=true)) on the dom0.
notes:
  - Before any C(xl) call the module checks that it runs on a Xen dom0 (C(/sys/hypervisor/type)
    is C(xen) and C(/proc/xen/capabilities) contains C(control_d)). Elsewhere it fails with
    RV(error=not_xen_host) and a message saying what the host is and what to do.
  - Xen 3's C(xm)/C(xend) toolstack no longer exists; this collection uses its successor C(xl).
'''

    # Modules that change a host: their read-decide-act is one critical section per host.
    LOCK = r'''
options:
  lock_timeout:
    description:
      - Seconds to wait for another task of this collection that is changing the same Xen host
        (any play, any controller) before giving up with RV(error=lock_timeout), naming that task.
      - The module reads the host, decides and acts in one critical section per host (a lock file,
        C(/run/lock/xenfleet-xen.lock)), so two plays that declare the same guest at the same time
        never both create it; the second one waits, reads the result of the first and reports it.
      - A live migration holds the source host's lock while it runs.
    type: int
    default: 900
'''

    # Where a domain's files live on the dom0 (modules that read or write them).
    FILES = r'''
options:
  config_dir:
    description:
      - Directory of the domains' xl configuration files; a guest's file is C(<config_dir>/<name>.cfg).
      - The same on every host of a fleet (a migration moves the file to the same path on the target).
    type: path
    default: /etc/xen
'''

    AUTOSTART = r'''
options:
  autostart_dir:
    description:
      - Directory whose entries make domains start with the host (read by the C(xendomains) service); a
        guest's entry is the link C(<autostart_dir>/<name>.cfg) to its config file.
      - The same on every host of a fleet.
    type: path
    default: /etc/xen/auto
'''

    # Attributes of read-only modules.
    INFO_MODULE = r'''
attributes:
  check_mode:
    support: full
    details: This module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
'''

    ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
'''
