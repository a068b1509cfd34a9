# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The one place that builds the command lines of the dom0's tools other than xl (xl's are in
# _xl_cmd): a named verb per tool subcommand, each returning a full argv whose first word is the
# tool's name (XlClient.run_tool finds its path). Pure: no I/O.

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def _s(value):
    return str(value)


# Debian packages that bring each tool (for the error when one is missing).
PACKAGES = {}

# -- storage ----------------------------------------------------------------------------------
# (qemu-img, LVM)


# -- first-boot seeds -------------------------------------------------------------------------
# (cloud-init NoCloud seed images)
