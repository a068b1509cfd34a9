# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# BENCHMARK STAND-IN, never shipped (benchmarks/domains/run.py without --inventory): xenfleet.xen.xen_domain's main()
# as the module has it, on a machine that is no Xen dom0. The only difference: the host check reads the two files of
# a dom0 from here (what xl_capture.XEN_DOM0_FILES gives the unit tests), and the host lock is a file under /tmp. xl
# itself is the stand-in script given as xl_path (run.py writes it: captured answers, data-shaped).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_domain, _xl
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec
from ansible_collections.xenfleet.xen.plugins.module_utils._options import XEN_DOMAIN

DOM0_FILES = {'/sys/hypervisor/type': 'xen\n', '/proc/xen/capabilities': 'control_d\n'}


def main():
    real_read = _xl._read_file
    _xl._read_file = lambda path: DOM0_FILES[path] if path in DOM0_FILES else real_read(path)
    _xl.DEFAULT_LOCK_PATH = '/tmp/xenfleet-bench-domains.lock'
    module = AnsibleModule(argument_spec=xl_argument_spec(locking=True, **XEN_DOMAIN), supports_check_mode=True)
    run_module(module, _converge_domain.run, critical='name')


if __name__ == '__main__':
    main()
