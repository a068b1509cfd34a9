# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# Waiting until guests answer SSH (xen_wait_ssh). All guests share one deadline; in each round every guest that
# has not answered yet is tried once (the attempts of a round run side by side), then the wait pauses for `delay`
# seconds, until every guest has answered or the deadline has passed. A guest answers when its SSH server sends its
# identification line (RFC 4253, 4.2: "SSH-protoversion-softwareversion"); a refused connection, an unreachable
# address, or a connection accepted and then cut before that line (a booting guest whose network comes and goes: "No
# route to host" after the connect, seen in the lab) is a failed attempt, tried again next round.
#
# The bookkeeping (who answered, when, the messages) is plain data: `wait` takes the prober, the clock and the pause as
# arguments, so tests drive it with a scripted probe and a fake clock; `probe` is the one place that opens sockets;
# `run` is the module's verb (no xl: no client, no host lock, no run_module).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import socket
import threading
import time

# The server's identification line; RFC 4253 lets a server send other lines before it.
IDENTIFICATION = re.compile(r'^SSH-[0-9]+\.[0-9]+-[^\r\n]*', re.M)
# How much a server may send before its identification line (RFC 4253: lines before it, each at most 255 bytes).
MAX_PREAMBLE = 8192
# The shortest attempt made close to the deadline (seconds).
MIN_ATTEMPT = 1.0
# For a guest that did not answer: the last lines of its console log go into the result and the message (what the
# guest was doing when the wait gave up - still in its boot loader, in a systemd start job, ...), read from at most
# the last CONSOLE_BYTES bytes of the file.
CONSOLE_LINES = 8
CONSOLE_BYTES = 65536
# Terminal control sequences (colours, cursor moves of a boot loader's menu) and other control characters.
CONTROL = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b.|[\x00-\x08\x0b-\x1f\x7f]')


def endpoint(address, port):
    """address:port, with an IPv6 address in brackets."""
    return ('[%s]:%d' if ':' in address else '%s:%d') % (address, port)


def describe(exc):
    """What an OSError says, without its errno prefix: 'No route to host', 'Connection refused'."""
    text = getattr(exc, 'strerror', None) or str(exc) or type(exc).__name__
    return text


def probe(address, port, timeout):
    """One attempt: connect to address:port and read up to the server's identification line, all within `timeout`
    seconds. Returns (True, the identification line) or (False, what happened instead)."""
    deadline = time.time() + timeout
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except socket.timeout:
        return False, 'no answer to the connection within %g s' % timeout
    except (OSError, socket.error) as exc:
        return False, describe(exc)
    data = b''
    try:
        while len(data) < MAX_PREAMBLE:
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout()
            sock.settimeout(left)
            chunk = sock.recv(1024)
            if not chunk:
                return False, 'connected, but the connection was closed before an SSH identification%s' % (
                    ' (it sent %r)' % data[:80].decode('latin-1') if data else '')
            data += chunk
            found = IDENTIFICATION.search(data.decode('latin-1'))
            if found and (found.end() < len(data) or data.endswith(b'\n')):
                return True, found.group(0).strip()
        return False, 'connected, but no SSH identification in the first %d bytes' % MAX_PREAMBLE
    except socket.timeout:
        found = IDENTIFICATION.search(data.decode('latin-1'))
        if found:  # an identification line the server did not end (RFC 4253 wants CR LF): it answered
            return True, found.group(0).strip()
        return False, 'connected, but no SSH identification within %g s' % timeout
    except (OSError, socket.error) as exc:
        return False, 'connected, then: %s' % describe(exc)
    finally:
        sock.close()


def console_tail(text, lines=CONSOLE_LINES):
    """The last `lines` non-blank lines of a console log's text, without terminal control sequences."""
    kept = []
    for line in text.replace('\r\n', '\n').replace('\r', '\n').split('\n'):
        line = CONTROL.sub('', line).rstrip()
        if line.strip():
            kept.append(line)
    return kept[-lines:]


def read_console(path, lines=CONSOLE_LINES, limit=CONSOLE_BYTES):
    """The last lines of the console log at `path` (console_tail), or None when there is no such file or it cannot
    be read (the log only helps to explain a late guest; its absence is not the wait's failure)."""
    try:
        with open(path, 'rb') as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(size - limit, 0))
            data = handle.read()
    except (IOError, OSError):
        return None
    return console_tail(data.decode('utf-8', 'replace'), lines)


def new_record(guest, port):
    return {'name': guest['name'], 'address': guest['address'], 'port': guest.get('port') or port,
            'answered': False, 'seconds': None, 'attempts': 0, 'identification': None, 'error': None,
            'console_log': guest.get('console_log'), 'console_tail': None}


def run_round(jobs, workers):
    """Run the callables side by side (at most `workers` at a time; one: in order), return their results in order."""
    results = [None] * len(jobs)
    if workers <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    for start in range(0, len(jobs), workers):
        threads = []
        for index in range(start, min(start + workers, len(jobs))):
            def work(index=index):
                results[index] = jobs[index]()
            thread = threading.Thread(target=work)
            thread.daemon = True
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
    return results


def wait(guests, timeout, port=22, delay=2, connect_timeout=5, prober=None, clock=time.time, sleep=time.sleep,
         workers=16, reader=None):
    """Wait until every guest ({name, address[, port]}) answers SSH, or `timeout` seconds have passed since the wait
    began (one deadline for all). Returns the result: `guests` (per guest: answered, seconds after the wait began
    when it answered, attempts, its identification line or the last attempt's failure), `elapsed`, `timeout`.
    Whether it ended in time is the result's guests' `answered`; `message` words it. `prober` (default: probe)
    makes one attempt. A guest that did not answer and has a `console_log` gets the last lines of that file (`reader`,
    default read_console) as `console_tail`."""
    prober = prober or probe
    reader = reader or read_console
    began = clock()
    deadline = began + timeout
    records = [new_record(guest, port) for guest in guests]
    while True:
        waiting = [record for record in records if not record['answered']]
        if not waiting:
            break
        attempt = min(connect_timeout, max(deadline - clock(), MIN_ATTEMPT))

        def job(record, attempt=attempt):
            def attempt_once():
                answered, detail = prober(record['address'], record['port'], attempt)
                return answered, detail, clock()
            return attempt_once

        for record, (answered, detail, when) in zip(waiting, run_round([job(r) for r in waiting], workers)):
            record['attempts'] += 1
            if answered:
                record.update(answered=True, seconds=round(when - began, 1), identification=detail, error=None)
            else:
                record['error'] = detail
        if all(record['answered'] for record in records) or clock() >= deadline:
            break
        sleep(max(min(delay, deadline - clock()), 0))
    for record in records:
        if not record['answered'] and record['console_log']:
            record['console_tail'] = reader(record['console_log'])
    return {'guests': records, 'elapsed': round(clock() - began, 1), 'timeout': timeout}


def answered_all(result):
    return all(record['answered'] for record in result['guests'])


def _answered_list(records):
    done = sorted((r for r in records if r['answered']), key=lambda r: r['seconds'])
    return ', '.join('%s after %g s' % (r['name'], r['seconds']) for r in done)


def message(result):
    """The result in words. In time: who answered and when. Late: every guest that did not answer, with its address,
    how long it was waited for and what its last attempt met; then those that did answer, and when."""
    records = result['guests']
    if not records:
        return 'No guests to wait for.'
    if answered_all(result):
        return 'All %d guest%s answered SSH: %s (seconds after the wait began).' % (
            len(records), '' if len(records) == 1 else 's', _answered_list(records))
    missing = [r for r in records if not r['answered']]
    late = '; '.join('%s at %s (waited %g s, %d attempt%s; last: %s)'
                     % (r['name'], endpoint(r['address'], r['port']), result['elapsed'], r['attempts'],
                        '' if r['attempts'] == 1 else 's', r['error'])
                     for r in missing)
    done = _answered_list(records)
    consoles = ''.join(_console_words(r) for r in missing if r.get('console_log'))
    return ('%d of %d guest%s did not answer SSH within %g s: %s. %s%s' % (
        len(missing), len(records), '' if len(records) == 1 else 's', result['timeout'], late,
        ('Answered (seconds after the wait began): %s.' % done) if done else 'None answered.', consoles))


def _console_words(record):
    tail = record.get('console_tail')
    if tail is None:  # no such file (the host does not log guest consoles) or unreadable: nothing to show
        return ''
    if not tail:
        return ' Console of %s (%s): empty.' % (record['name'], record['console_log'])
    return ' Console of %s, last lines (%s): %s' % (record['name'], record['console_log'], ' | '.join(tail))


def bad_input(params):
    """A message for the first bad parameter of xen_wait_ssh, else None."""
    names = [guest['name'] for guest in params['guests']]
    twice = sorted(set(name for name in names if names.count(name) > 1))
    if twice:
        return 'guests: each guest once (%s given more than once)' % ', '.join(twice)
    for index, guest in enumerate(params['guests']):
        if not (guest['address'] or '').strip():
            return 'guests[%d].address: empty (guest %s)' % (index, guest['name'])
        if guest.get('console_log') is not None and not guest['console_log'].startswith('/'):
            return 'guests[%d].console_log: an absolute path, got %r (guest %s)' % (index, guest['console_log'], guest['name'])
        if guest.get('port') is not None and not 0 < guest['port'] < 65536:
            return 'guests[%d].port: %d is not a port number' % (index, guest['port'])
    if not 0 < params['port'] < 65536:
        return 'port: %d is not a port number' % params['port']
    if params['timeout'] < 0:
        return 'timeout: must be 0 or more seconds, got %d' % params['timeout']
    if params['delay'] < 1:
        return 'delay: must be 1 or more seconds, got %d' % params['delay']
    if params['connect_timeout'] < 1:
        return 'connect_timeout: must be 1 or more seconds, got %d' % params['connect_timeout']
    return None


def run(module):
    """xen_wait_ssh's verb: check the input, wait, exit (every guest answered) or fail (error ssh_timeout), with the
    result either way."""
    p = module.params
    problem = bad_input(p)
    if problem:
        module.fail_json(msg=problem, error='invalid_parameter', guests=[], elapsed=0.0, timeout=p['timeout'])
    result = wait(p['guests'], p['timeout'], port=p['port'], delay=p['delay'], connect_timeout=p['connect_timeout'])
    result['msg'] = message(result)
    if not answered_all(result):
        module.fail_json(error='ssh_timeout', **result)
    module.exit_json(changed=False, **result)
