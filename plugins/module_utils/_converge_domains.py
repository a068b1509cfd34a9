# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The verb of xen_domains: converge many guests of one host in one run, each exactly as xen_domain
# converges it (the same Converger, _converge_domain), with the host's domains read once for all.
#
# The run, under the host's lock from its first xl command to its end:
#   1. every entry's input is checked (names unique, each guest's declaration) - bad input fails here,
#      naming the entry (`domains[3].memory`), before the host is looked at;
#   2. the domains are read once (`xl list -l`, `xl list`: lifecycle.read_domains) and every guest is
#      read from that list (its config file, its save image) and prepared: what it needs, and whether the
#      host and xl's dry run accept it (`xl info` runs at most once). A guest that fails here fails the
#      run with nothing changed on any guest;
#   3. the guests are changed in the order given, each as xen_domain would, each re-read after it was
#      changed. The first guest that fails stops the run: the guests before it are converged (their
#      results are reported), the failed guest is left as xen_domain leaves a guest that failed (its
#      config file put back after a failed create or restore, nothing half-applied), the guests after it
#      are not touched.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_domain as one
from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle as lifecycle
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec, XenError

# How many names the lock record shows (a task that waits for this run names it).
HOLDER_NAMES = 5


def run(module, client):
    """xen_domains' worker (for _module.run_module): converge every guest of `domains`, return the result."""
    return Batch(module, client).run()


def holder(params):
    """Who holds the host's lock during the run, for a task that waits for it: 'web1, web2, ... (20 guests)'."""
    names = [str(entry.get('name')) for entry in params.get('domains') or []]
    shown = ', '.join(names[:HOLDER_NAMES]) + (', ...' if len(names) > HOLDER_NAMES else '')
    return '%s (%d guest%s)' % (shown, len(names), '' if len(names) == 1 else 's')


def where(index, param=None):
    return 'domains[%d]%s' % (index, '.' + param if param else '')


class Batch(object):
    """One run of xen_domains: check all, read once, prepare all, then act guest by guest."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.timeout = client.timeout
        self.entries = [self.entry_params(entry) for entry in module.params['domains']]
        self.names = [entry.get('name') for entry in self.entries]
        self.convergers = []
        self.calls = [0] * len(self.entries)
        self.results = []
        self.facts = None

    def entry_params(self, entry):
        """One guest's options as xen_domain would get them: the run's directories, its own command_timeout
        (else the run's)."""
        params = dict(entry)
        params['config_dir'] = self.module.params['config_dir']
        params['autostart_dir'] = self.module.params['autostart_dir']
        if params.get('command_timeout') is None:
            params['command_timeout'] = self.module.params['command_timeout']
        return params

    # -- the run ---------------------------------------------------------------------------

    def run(self):
        try:
            self.refuse_bad_input()
            if not self.entries:
                return self.result()
            self.client.ensure_xen_host()
            domains = lifecycle.read_domains(self.client)
            for converger in self.convergers:
                converger.domains = domains
            for index, converger in enumerate(self.convergers):
                self.step(index, converger, self.prepare, acting=False)
            for index, converger in enumerate(self.convergers):
                result = self.step(index, converger, converger.act, acting=True)
                self.results.append(self.guest_result(index, converger, result))
        finally:
            for converger in self.convergers:
                converger.files.discard()
        return self.result()

    def refuse_bad_input(self):
        """Every entry's input, before the host is looked at (the first bad entry is named)."""
        first = {}
        for index, params in enumerate(self.entries):
            name = params.get('name')
            if name in first:
                raise InvalidSpec(where(index, 'name'), '%r is declared twice (%s and %s): each guest once'
                                  % (name, where(first[name]), where(index)))
            first[name] = index
            if params['command_timeout'] <= 0:
                raise InvalidSpec(where(index, 'command_timeout'),
                                  'must be a positive number of seconds, got %r' % (params['command_timeout'],))
            converger = one.Converger(self.module, self.client, params=params, host_facts=self.host)
            self.convergers.append(converger)
            try:
                converger.refuse_bad_input()
            except InvalidSpec as exc:
                raise self.renamed(index, exc)

    def prepare(self, converger):
        converger.read()
        converger.prepare()

    def step(self, index, converger, action, acting):
        """Run one guest's step with its command_timeout, count its xl calls, and turn its failure into the
        run's (what was done before it, what was not)."""
        self.client.timeout = converger.p['command_timeout']
        before = len(self.client.calls)
        try:
            try:
                return action() if acting else action(converger)
            finally:
                self.calls[index] += len(self.client.calls) - before
                self.client.timeout = self.timeout
        except XenError as exc:
            raise self.failed(index, converger, exc, acting)

    def host(self):
        """The host's facts, from one `xl info` for the whole run (only a guest to be changed asks)."""
        if self.facts is None:
            self.facts = parse.host_facts(self.client.info())
        return self.facts

    # -- the result ------------------------------------------------------------------------

    def guest_result(self, index, converger, result):
        """xen_domain's result for the guest, with its name and the xl commands run for it alone (the
        domains read for all guests are counted in the run's xl_calls only)."""
        result = dict(result)
        result['name'] = converger.name
        result['xl_calls'] = self.calls[index]
        return result

    def result(self):
        result = {'changed': any(r['changed'] for r in self.results), 'domains': self.results}
        if self.module._diff:
            result['diff'] = [part for r in self.results for part in r.get('diff') or []]
        return result

    # -- failures --------------------------------------------------------------------------

    @staticmethod
    def renamed(index, exc):
        """A guest's InvalidSpec, its parameter named as the entry's (`memory` -> `domains[3].memory`)."""
        text = exc.msg[len(exc.param) + 2:] if exc.msg.startswith(exc.param + ': ') else exc.msg
        return InvalidSpec(where(index, exc.param), text)

    def failed(self, index, converger, exc, acting):
        """The error that ends the run: the guest's own (its kind, command and output), its message saying
        which entry failed and which guests were converged, with the results so far."""
        if isinstance(exc, InvalidSpec):
            exc = self.renamed(index, exc) if not exc.param.startswith('domains[') else exc
            head = '%s (%s)' % (exc.msg, converger.name)
        else:
            head = '%s (%s): %s' % (where(index), converger.name, exc.msg)
        done = self.names[:index] if acting else []
        if acting:
            tail = ' Converged before it: %s; not converged: %s.' % (
                ', '.join(done) or 'none', ', '.join(self.names[index:]))
            self.results.append({'name': converger.name, 'failed': True, 'changed': converger.changed,
                                 'applied': converger.applied, 'msg': exc.msg, 'error': exc.kind,
                                 'xl_calls': self.calls[index]})
        else:
            tail = ' Nothing was changed on any guest (every guest is checked before the first is changed).'
        exc.msg = head + tail
        exc.result.update(
            changed=any(r['changed'] for r in self.results), domains=self.results, failed_domain=converger.name,
            converged=done, not_converged=self.names[index:] if acting else list(self.names))
        return exc
