# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SSH wait (plugins/module_utils/_ssh_wait.py, module xen_wait_ssh): its bookkeeping driven by a scripted probe
and a fake clock (one deadline for all guests, every waiting guest tried each round, who answered when, the
messages), its probe against real sockets on this machine (an SSH identification, a refused port, a connection cut
or silent), and the module end to end."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import threading

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _ssh_wait
from ansible_collections.xenfleet.xen.plugins.modules import xen_wait_ssh
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module

# What OpenSSH 9.2 on Debian 12 sends first (RFC 4253 4.2); the probe only needs the SSH-2.0- prefix and a line end.
IDENT = 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3'


class Clock(object):
    """A fake clock: time moves only when an attempt takes time or the wait pauses."""

    def __init__(self):
        self.now = 1000.0
        self.pauses = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.pauses.append(seconds)
        self.now += seconds


class Script(object):
    """A probe that answers per address from a script: the attempt (1-based) at which the guest first answers (None:
    never), what a failed attempt meets, and how long each attempt takes."""

    def __init__(self, clock, answers_at, cost=1.0, error='No route to host'):
        self.clock = clock
        self.answers_at = answers_at
        self.cost = cost
        self.error = error
        self.calls = []

    def __call__(self, address, port, timeout):
        self.calls.append((address, port, timeout))
        self.clock.now += min(self.cost, timeout)
        tries = sum(1 for call in self.calls if call[0] == address)
        first = self.answers_at[address]
        if first is not None and tries >= first:
            return True, IDENT
        return False, self.error


def guests(*names):
    return [{'name': name, 'address': '192.0.2.%d' % (10 + index)} for index, name in enumerate(names)]


def run_wait(names, answers_at, timeout=60, delay=2, connect_timeout=5, cost=1.0):
    clock = Clock()
    script = Script(clock, dict(('192.0.2.%d' % (10 + i), answers_at[n]) for i, n in enumerate(names)), cost=cost)
    result = _ssh_wait.wait(guests(*names), timeout, delay=delay, connect_timeout=connect_timeout, prober=script,
                            clock=clock, sleep=clock.sleep, workers=1)
    return result, script, clock


def by_name(result):
    return dict((record['name'], record) for record in result['guests'])


def test_a_guest_that_never_answers_does_not_hold_up_the_others():
    """The first guest is dead: the others are tried in the same rounds and answer when they come up, not after
    the first guest's deadline (the role's old per-item until did exactly that)."""
    result, script, _clock = run_wait(['pb01', 'pb02', 'pb03'], {'pb01': None, 'pb02': 2, 'pb03': 4})
    got = by_name(result)
    # round 1 costs 3 s (three attempts of 1 s), then 2 s pause: pb02's second attempt ends at 3 + 2 + 2 = 7 s
    assert got['pb02']['answered'] and got['pb02']['seconds'] == 7.0 and got['pb02']['attempts'] == 2
    # pb03 answers in round 4; pb02 is no longer tried after it answered
    assert got['pb03']['answered'] and got['pb03']['attempts'] == 4
    assert [a for a, _p, _t in script.calls].count('192.0.2.11') == 2
    assert got['pb01']['answered'] is False and got['pb01']['seconds'] is None
    assert got['pb01']['error'] == 'No route to host' and got['pb01']['identification'] is None
    assert got['pb02']['identification'] == IDENT and got['pb02']['error'] is None


def test_one_deadline_for_all_guests():
    """Two dead guests: the wait ends at its timeout (give or take one attempt), not at two timeouts; both were tried
    in every round."""
    result, _script, clock = run_wait(['a', 'b'], {'a': None, 'b': None}, timeout=30)
    assert 30 <= result['elapsed'] <= 30 + 5
    got = by_name(result)
    assert got['a']['attempts'] == got['b']['attempts'] > 5
    assert not _ssh_wait.answered_all(result)
    # the last pause is cut to the time left; no pause after the deadline
    assert all(p <= 2 for p in clock.pauses)


def test_attempts_near_the_deadline_get_what_is_left_but_at_least_a_second():
    result, script, _clock = run_wait(['a'], {'a': None}, timeout=7, delay=2, connect_timeout=5, cost=5)
    timeouts = [t for _a, _p, t in script.calls]
    assert timeouts[0] == 5 and all(t >= _ssh_wait.MIN_ATTEMPT for t in timeouts)
    assert timeouts[-1] < 5
    assert result['guests'][0]['attempts'] == len(timeouts)


def test_guests_that_answer_at_once_cost_one_round_and_no_pause():
    result, script, clock = run_wait(['a', 'b'], {'a': 1, 'b': 1})
    assert _ssh_wait.answered_all(result) and len(script.calls) == 2 and clock.pauses == []
    assert [r['seconds'] for r in result['guests']] == [1.0, 2.0]


def test_nothing_to_wait_for():
    result, script, _clock = run_wait([], {})
    assert result['guests'] == [] and script.calls == [] and _ssh_wait.answered_all(result)
    assert _ssh_wait.message(result) == 'No guests to wait for.'


def test_a_zero_timeout_still_makes_one_round():
    result, script, _clock = run_wait(['a'], {'a': 1}, timeout=0)
    assert _ssh_wait.answered_all(result) and len(script.calls) == 1


def test_a_guest_port_wins_over_the_default():
    clock = Clock()
    script = Script(clock, {'192.0.2.10': 1, '192.0.2.11': 1})
    result = _ssh_wait.wait([{'name': 'a', 'address': '192.0.2.10', 'port': 2222}, {'name': 'b', 'address': '192.0.2.11'}],
                            10, port=22, prober=script, clock=clock, sleep=clock.sleep, workers=1)
    assert [(a, p) for a, p, _t in script.calls] == [('192.0.2.10', 2222), ('192.0.2.11', 22)]
    assert [r['port'] for r in result['guests']] == [2222, 22]


def test_the_timeout_message_names_every_late_guest_with_its_address_and_those_that_answered_with_when():
    result, _script, _clock = run_wait(['pb01', 'pb02', 'pb03', 'pb04'], {'pb01': 3, 'pb02': None, 'pb03': 1, 'pb04': None},
                                       timeout=20)
    text = _ssh_wait.message(result)
    got = by_name(result)
    assert text.startswith('2 of 4 guests did not answer SSH within 20 s: ')
    for name in ('pb02', 'pb04'):
        record = got[name]
        assert '%s at %s:22 (waited %g s, %d attempts; last: No route to host)' % (
            name, record['address'], result['elapsed'], record['attempts']) in text
    # those that answered, earliest first, with the seconds after the wait began
    assert text.endswith('Answered (seconds after the wait began): pb03 after %g s, pb01 after %g s.'
                         % (got['pb03']['seconds'], got['pb01']['seconds']))


def test_the_timeout_message_when_none_answered_and_the_success_message():
    result, _script, _clock = run_wait(['a'], {'a': None}, timeout=3)
    assert _ssh_wait.message(result).endswith('None answered.')
    assert '1 of 1 guest did not answer' in _ssh_wait.message(result)
    result, _script, _clock = run_wait(['a', 'b'], {'a': 2, 'b': 1})
    assert _ssh_wait.message(result) == ('All 2 guests answered SSH: b after 2 s, a after 5 s '
                                         '(seconds after the wait began).')


# The first 64 bytes of hvm1's serial log (/var/log/xen/console/guest-hvm1.log) in the provision scenario on the lab's
# Xen 4.17.5 (2026-12-04), read while the guest sat in its boot loader for nine minutes: GRUB's screen clears, then
# its booting line, as the file has them.
HVM1_GRUB = b"\x1b[H\x1b[J\x1b[1;1H\x1b[H\x1b[J\x1b[1;1H  Booting `Debian GNU/Linux (cloud)'\r\n\r\n"


def test_console_tail_drops_terminal_control_and_blank_lines():
    assert _ssh_wait.console_tail(HVM1_GRUB.decode()) == ["  Booting `Debian GNU/Linux (cloud)'"]
    text = '\n'.join('line %d' % n for n in range(20)) + '\r\n\x1b[0;32m  OK  \x1b[0m] Reached target\r\n\n'
    assert _ssh_wait.console_tail(text, lines=3) == ['line 18', 'line 19', '  OK  ] Reached target']


def test_read_console_reads_only_the_end_of_a_large_log(tmp_path):
    log = tmp_path / 'guest-pb03.log'
    log.write_bytes(b'early boot line\n' * 10000 + HVM1_GRUB)
    assert _ssh_wait.read_console(str(log), lines=2, limit=200) == ['early boot line', "  Booting `Debian GNU/Linux (cloud)'"]
    assert _ssh_wait.read_console(str(tmp_path / 'missing.log')) is None


def test_a_late_guest_brings_its_console_tail_and_an_answered_one_does_not():
    clock = Clock()
    script = Script(clock, {'192.0.2.10': None, '192.0.2.11': 1, '192.0.2.12': None})
    read = []

    def reader(path):
        read.append(path)
        return {'/logs/hvm1.log': ["  Booting `Debian GNU/Linux (cloud)'"], '/logs/pv9.log': []}.get(path)

    result = _ssh_wait.wait([{'name': 'hvm1', 'address': '192.0.2.10', 'console_log': '/logs/hvm1.log'},
                             {'name': 'pvh1', 'address': '192.0.2.11', 'console_log': '/logs/pvh1.log'},
                             {'name': 'pv9', 'address': '192.0.2.12', 'console_log': '/logs/pv9.log'}],
                            5, prober=script, clock=clock, sleep=clock.sleep, workers=1, reader=reader)
    got = by_name(result)
    assert read == ['/logs/hvm1.log', '/logs/pv9.log']
    assert got['hvm1']['console_tail'] == ["  Booting `Debian GNU/Linux (cloud)'"] and got['pvh1']['console_tail'] is None
    text = _ssh_wait.message(result)
    assert text.endswith(" Console of hvm1, last lines (/logs/hvm1.log):   Booting `Debian GNU/Linux (cloud)'"
                         " Console of pv9 (/logs/pv9.log): empty.")


def test_a_console_log_that_cannot_be_read_is_left_out_of_the_message():
    clock = Clock()
    result = _ssh_wait.wait([{'name': 'a', 'address': '192.0.2.10', 'console_log': '/nonexistent/guest-a.log'}], 3,
                            prober=Script(clock, {'192.0.2.10': None}), clock=clock, sleep=clock.sleep, workers=1)
    assert result['guests'][0]['console_tail'] is None
    assert 'Console' not in _ssh_wait.message(result) and _ssh_wait.message(result).endswith('None answered.')


def test_endpoint_brackets_ipv6():
    assert _ssh_wait.endpoint('fd00::5', 22) == '[fd00::5]:22'
    assert _ssh_wait.endpoint('192.0.2.5', 2222) == '192.0.2.5:2222'


# -- the probe, against sockets of this machine -------------------------------------------------------------

class Server(object):
    """A TCP server on 127.0.0.1 that does `behaviour(conn)` with each connection."""

    def __init__(self, behaviour):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.behaviour = behaviour
        self.open = []
        self.thread = threading.Thread(target=self.serve)
        self.thread.daemon = True
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _peer = self.sock.accept()
            except OSError:
                return
            self.open.append(conn)
            self.behaviour(conn)

    def close(self):
        for conn in self.open:
            conn.close()
        self.sock.close()


@pytest.fixture
def server():
    made = []

    def make(behaviour):
        made.append(Server(behaviour))
        return made[-1]
    yield make
    for one in made:
        one.close()


def sends(data):
    return lambda conn: conn.sendall(data)


def free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_probe_reads_the_identification(server):
    up = server(sends((IDENT + '\r\n').encode()))
    assert _ssh_wait.probe('127.0.0.1', up.port, 2) == (True, IDENT)


def test_probe_skips_lines_before_the_identification(server):
    up = server(sends(b'Welcome\r\nmaintenance at 5\r\n' + (IDENT + '\r\n').encode()))
    assert _ssh_wait.probe('127.0.0.1', up.port, 2) == (True, IDENT)


def test_probe_fails_on_a_refused_port():
    answered, detail = _ssh_wait.probe('127.0.0.1', free_port(), 2)
    assert not answered and detail == 'Connection refused'


def test_probe_fails_on_a_connection_closed_before_the_identification(server):
    up = server(lambda conn: conn.close())
    answered, detail = _ssh_wait.probe('127.0.0.1', up.port, 2)
    assert not answered
    assert detail.startswith('connected, but the connection was closed before an SSH identification') or \
        detail.startswith('connected, then: ')


def test_probe_fails_on_a_server_that_says_something_else(server):
    up = server(lambda conn: (conn.sendall(b'HTTP/1.1 400 Bad Request\r\n\r\n'), conn.close()))
    answered, detail = _ssh_wait.probe('127.0.0.1', up.port, 2)
    assert not answered and 'HTTP/1.1 400' in detail


def test_probe_fails_on_a_silent_server_within_its_timeout(server):
    up = server(lambda conn: None)
    answered, detail = _ssh_wait.probe('127.0.0.1', up.port, 1)
    assert not answered and detail == 'connected, but no SSH identification within 1 s'


def test_probe_takes_an_identification_without_its_line_end(server):
    up = server(sends(IDENT.encode()))
    assert _ssh_wait.probe('127.0.0.1', up.port, 1) == (True, IDENT)


def test_wait_with_real_probes_side_by_side(server):
    up = server(sends((IDENT + '\r\n').encode()))
    result = _ssh_wait.wait([{'name': 'down', 'address': '127.0.0.1', 'port': free_port()},
                             {'name': 'up', 'address': '127.0.0.1', 'port': up.port}], 2, delay=1, connect_timeout=1)
    got = by_name(result)
    assert got['up']['answered'] and got['up']['attempts'] == 1 and got['up']['seconds'] < 2
    assert not got['down']['answered'] and got['down']['attempts'] >= 2 and got['down']['error'] == 'Connection refused'
    assert 2 <= result['elapsed'] < 6


# -- the module ------------------------------------------------------------------------------------------------

def run(monkeypatch, args):
    return run_module(monkeypatch, xen_wait_ssh.main, args, XlScript([]))


def test_module_reports_each_guest_and_changes_nothing(monkeypatch, server):
    up = server(sends((IDENT + '\r\n').encode()))
    result, failed = run(monkeypatch, {'guests': [{'name': 'web1', 'address': '127.0.0.1'}], 'port': up.port,
                                       'timeout': 5})
    assert not failed and result['changed'] is False
    assert result['guests'][0]['answered'] and result['guests'][0]['identification'] == IDENT
    assert result['msg'].startswith('All 1 guest answered SSH: web1 after ')


def test_module_fails_on_timeout_with_every_guest_in_the_result(monkeypatch, server):
    up = server(sends((IDENT + '\r\n').encode()))
    port = free_port()
    result, failed = run(monkeypatch, {'guests': [{'name': 'pb03', 'address': '127.0.0.1', 'port': port},
                                                  {'name': 'pb01', 'address': '127.0.0.1', 'port': up.port}],
                                       'timeout': 1, 'delay': 1, 'connect_timeout': 1})
    assert failed and result['error'] == 'ssh_timeout'
    assert result['msg'].startswith('1 of 2 guests did not answer SSH within 1 s: pb03 at 127.0.0.1:%d (waited ' % port)
    assert 'Answered (seconds after the wait began): pb01 after ' in result['msg']
    assert [g['answered'] for g in result['guests']] == [False, True]


@pytest.mark.parametrize('args,fragment', [
    ({'guests': [{'name': 'a', 'address': '192.0.2.1'}, {'name': 'a', 'address': '192.0.2.2'}]}, 'a given more than once'),
    ({'guests': [{'name': 'a', 'address': ' '}]}, 'guests[0].address: empty'),
    ({'guests': [{'name': 'a', 'address': '192.0.2.1', 'port': 0}]}, 'guests[0].port'),
    ({'guests': [{'name': 'a', 'address': '192.0.2.1', 'console_log': 'guest-a.log'}]}, 'guests[0].console_log: an absolute path'),
    ({'guests': [], 'timeout': -1}, 'timeout'),
    ({'guests': [], 'delay': 0}, 'delay'),
    ({'guests': [], 'connect_timeout': 0}, 'connect_timeout'),
])
def test_module_refuses_bad_input_before_any_attempt(monkeypatch, args, fragment):
    called = []
    monkeypatch.setattr(_ssh_wait, 'probe', lambda *a: called.append(a) or (True, IDENT))
    result, failed = run(monkeypatch, args)
    assert failed and result['error'] == 'invalid_parameter' and fragment in result['msg'] and called == []
