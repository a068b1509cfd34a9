#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_wait_ssh
short_description: Wait until guests answer SSH, all against one deadline, and say when each answered
version_added: 1.0.0
description:
  - Waits until every guest of O(guests) answers SSH at its address - its SSH server sends its identification line
    (C(SSH-2.0-...)) - or O(timeout) seconds have passed since the wait began. The deadline is one for all guests.
  - In each round every guest that has not answered yet is tried once, the guests side by side, each attempt
    bounded by O(connect_timeout); then the wait pauses O(delay) seconds. A refused connection, an unreachable address
    or a connection that is accepted and then cut before the identification (a booting guest whose network comes and
    goes) is a failed attempt, tried again in the next round.
  - RV(guests) says per guest whether it answered and when (seconds after the wait began). When the deadline passes
    first, the task fails and its message names every guest that did not answer (its address, how long it was waited
    for, what its last attempt met) and every guest that did, with when.
  - Runs on the host that is to reach the guests - in the P(xenfleet.xen.guests#role) role, the Xen host, from which
    guests on an internal bridge are reachable. It runs no C(xl) command.
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl.attributes
attributes:
  check_mode:
    support: none
    details: Skipped in check mode, where the guests a play would start have not been started.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: It only connects to the guests; it never changes anything.
options:
  guests:
    description:
      - The guests to wait for. An empty list waits for nothing.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The guest's name, once in O(guests) (it names the guest in the result and the messages).
        type: str
        required: true
      address:
        description: The address (or host name) where the guest answers SSH, from the host the task runs on.
        type: str
        required: true
      port:
        description: The guest's SSH port; defaults to O(port).
        type: int
      console_log:
        description:
          - The guest's console log on the host the task runs on (an absolute path), for example
            C(/var/log/xen/console/guest-web1.log) where xenconsoled logs guest consoles (C(--log=guest)), or the file
            of an HVM guest's C(serial = "file:...").
          - When the guest does not answer in time, the last lines of this file (without terminal control sequences)
            are in RV(guests[].console_tail) and the failure message - what the guest was doing when the wait gave up.
            A file that does not exist is left out.
        type: str
  port:
    description: The SSH port of the guests that do not give their own O(guests[].port).
    type: int
    default: 22
  timeout:
    description:
      - Seconds from the start of the wait until it gives up, for all guests together.
      - The first round is made however small it is.
    type: int
    default: 600
  delay:
    description: Seconds between two rounds of attempts.
    type: int
    default: 2
  connect_timeout:
    description:
      - Seconds one attempt may take - the connection and the server's identification line.
      - Close to the deadline an attempt gets what is left (at least a second).
    type: int
    default: 5
notes:
  - The identification line is the first thing an SSH server sends (RFC 4253, section 4.2); reading it proves that
    the guest's network is up and its SSH server runs, not that a login will succeed.
seealso:
  - module: xenfleet.xen.xen_domains
  - module: ansible.builtin.wait_for
'''

EXAMPLES = r'''
- name: Wait until the new guests answer SSH, from their Xen host (at most 15 minutes for all of them)
  xenfleet.xen.xen_wait_ssh:
    guests:
      - {name: web1, address: 192.0.2.11}
      - {name: web2, address: 192.0.2.12}
      - {name: db1, address: 192.0.2.21, port: 2222}
    timeout: 900
  register: ssh_up

- name: After how long each guest answered
  ansible.builtin.debug:
    msg: "{{ ssh_up.guests | map(attribute='name') | zip(ssh_up.guests | map(attribute='seconds')) | list }}"
'''

RETURN = r'''
guests:
  description: One entry per guest of O(guests), in that order. Returned when the wait fails too.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: O(guests[].name).
      type: str
      sample: web1
    address:
      description: O(guests[].address).
      type: str
      sample: 192.0.2.11
    port:
      description: The port tried.
      type: int
      sample: 22
    answered:
      description: Whether the guest answered before the deadline.
      type: bool
      sample: true
    seconds:
      description: Seconds after the wait began when the guest answered (null when it did not).
      type: float
      sample: 41.3
    attempts:
      description: Attempts made for this guest.
      type: int
      sample: 12
    identification:
      description: The identification line the guest's SSH server sent (null when it did not answer).
      type: str
      sample: SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3
    error:
      description: What the guest's last attempt met, when it did not answer (for example C(No route to host)).
      type: str
      sample: Connection refused
    console_log:
      description: O(guests[].console_log) (null when not given).
      type: str
      sample: /var/log/xen/console/guest-web1.log
    console_tail:
      description:
        - For a guest that did not answer and has a O(guests[].console_log) that could be read, its last lines (at
          most 8, without terminal control sequences); else null.
      type: list
      elements: str
      sample: ["Booting `Debian GNU/Linux (cloud)'"]
elapsed:
  description: Seconds the wait took.
  returned: always
  type: float
  sample: 97.4
timeout:
  description: O(timeout).
  returned: always
  type: int
  sample: 600
msg:
  description: The result in words - when each guest answered, or which did not (with their addresses) and which did.
  returned: always
  type: str
  sample: "All 2 guests answered SSH: web1 after 41.3 s, web2 after 97.4 s (seconds after the wait began)."
error:
  description: On failure, what went wrong, as a word - V(ssh_timeout) (a guest did not answer in time) or
    V(invalid_parameter).
  returned: failure
  type: str
  sample: ssh_timeout
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _ssh_wait


def main():
    module = AnsibleModule(
        argument_spec=dict(
            guests=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                address=dict(type='str', required=True),
                port=dict(type='int'),
                console_log=dict(type='str'),
            )),
            port=dict(type='int', default=22),
            timeout=dict(type='int', default=600),
            delay=dict(type='int', default=2),
            connect_timeout=dict(type='int', default=5),
        ),
        supports_check_mode=False,
    )
    _ssh_wait.run(module)


if __name__ == '__main__':
    main()
