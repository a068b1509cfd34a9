# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The verb of xen_domain. `run` converges one guest: refuse bad input, read
# (the live domain and the config file), then one path per declared state - `absent` removes, the
# others plan (desired vs file vs live), stop or restart where they must, apply live changes, put
# the files in place and reach the power state. Check mode runs the same steps and only skips the
# actions (the files and lifecycle verbs are told `check`, or are not called), so its `applied`,
# `changed` and diff are those of a real run.
#
# The steps are methods a converge of many guests (_converge_domains, xen_domains) calls in its own
# order: refuse_bad_input, read (from domains read once for all guests), prepare (decide, and refuse
# what cannot be done, before anything changes), act (change, then report).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import tempfile

from ansible_collections.xenfleet.xen.plugins.module_utils import _domain as dom
from ansible_collections.xenfleet.xen.plugins.module_utils import _files as files
from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle as lifecycle
from ansible_collections.xenfleet.xen.plugins.module_utils import _options as options
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import (
    InvalidSpec,
    NotRunningError,
    SavedImageError,
    XlCommandError,
)
from ansible_collections.xenfleet.xen.plugins.module_utils._xl_config import name_problem

# Live states in which the domain runs (a guest that is shut down or crashed is not active).
ACTIVE = ('running', 'blocked', 'paused')
# The live state a declared state leads to, for the diff (`present` keeps what it finds).
AFTER_STATE = {'running': 'running', 'paused': 'paused', 'shutdown': 'defined', 'absent': 'undefined',
               'saved': 'saved'}


def run(module, client):
    """xen_domain's worker (for _module.run_module): converge the guest `name`, return the result."""
    converger = Converger(module, client)
    try:
        return converger.run()
    finally:
        converger.files.discard()


def desired(params):
    """The guest declaration (options.GUEST_KEYS) from the module parameters."""
    spec = dict((k, params.get(k)) for k in options.GUEST_KEYS)
    if spec.get('vnc') and not spec.get('vnclisten'):
        spec['vnclisten'] = '127.0.0.1'
    return spec


def diff_state(live_state):
    """A live state in the module's terms for diffs: `blocked` (idle) is `running` too."""
    return 'running' if live_state == 'blocked' else live_state


def is_active(live):
    return live is not None and live['state'] in ACTIVE


class Found(object):
    """What the run found: the live domain (or None), the config file's text (or None), whether a save
    image of the guest exists, and the state for the diff's `before` (`saved`: no domain, an image)."""

    def __init__(self, live, file_before, saved=False):
        self.live = live
        self.file_before = file_before
        self.saved = saved
        if live:
            self.state = diff_state(live['state'])
        elif saved:
            self.state = 'saved'
        else:
            self.state = 'defined' if file_before is not None else 'undefined'


class Plan(object):
    """What the declaration asks of a domain found so: the new file and the live differences."""

    def __init__(self, spec, state, apply_mode, found):
        self.file_before = found.file_before
        self.file_after = dom.render_config(dom.preserve_vcpu_keys(spec, found.file_before))
        self.file_changed = self.file_before != self.file_after
        self.secret = files.text_has_secret(self.file_after)
        self.active = is_active(found.live)
        self.changes = dom.compare_live(spec, found.live, self.file_before, self.file_after) if self.active else []
        self.creating = state in ('running', 'paused') and not self.active
        self.saving = state == 'saved' and self.active
        self.apply = apply_mode

    @property
    def restart_changes(self):
        return [c for c in self.changes if c.how == 'restart']

    @property
    def live_changes(self):
        return [c for c in self.changes if c.how == 'live']

    @property
    def touches_host(self):
        """Whether anything will be written or done (then the host checks run first)."""
        return bool(self.file_changed or self.creating or self.saving or self.changes)

    @property
    def restart_now(self):
        # a guest about to be saved is not restarted first: what needs a restart waits for its next boot
        return self.active and bool(self.restart_changes) and self.apply == 'restart' and not self.saving

    def drop_changes(self):
        """The domain is being stopped: nothing is left to change on it."""
        self.active = False
        self.changes = []


class Converger(object):
    """One run of xen_domain: read, compare, act (or predict), report."""

    # the host's files are checked through this seam (tests replace it)
    path_exists = staticmethod(os.path.exists)

    def __init__(self, module, client, params=None, domains=None, host_facts=None):
        """`params` are the guest's options (default: the module's); `domains` the host's domains read
        already (lifecycle.read_domains), looked in first instead of reading them again; `host_facts` a
        callable returning the host's facts (shared by the guests of one run, so `xl info` runs once)."""
        self.module = module
        self.client = client
        self.p = module.params if params is None else params
        self.domains = domains
        self.host_facts = host_facts
        self.found = None
        self.planned = None
        self.name = self.p['name']
        self.state = self.p['state']
        self.check = module.check_mode
        self.files = files.DomainFiles(module, self.name, self.p['config_dir'], self.p['autostart_dir'],
                                       check=self.check, save_dir=self.p['save_dir'])
        self.image = self.files.image
        self.spec = desired(self.p)
        self.applied = []
        self.pending = []
        self.changed = False
        self.live_touched = False
        # the domain as a live change's verification read it, while nothing live happened after it (finish reports it
        # instead of reading the domain once more)
        self.fresh = None
        self.image_after = False  # whether the guest has a save image when the run ends (check mode: would have)
        self.result = {}

    # -- the run ---------------------------------------------------------------------------

    def run(self):
        self.refuse_bad_input()
        self.client.ensure_xen_host()
        self.read()
        self.prepare()
        return self.act()

    def prepare(self):
        """Decide what the run does, and fail (nothing changed yet) when it cannot be done: the state
        asked is unreachable, the host refuses the guest, or xl's dry run rejects the new file."""
        if self.state != 'absent':
            self.refuse_state(self.found)
            self.planned = self.plan(self.found)

    def act(self):
        """Change what prepare decided (in check mode: predict it); returns the result."""
        if self.state == 'absent':
            return self.remove(self.found)
        return self.define(self.found, self.planned)

    def refuse_bad_input(self):
        """Bad input fails here, before the host is looked at."""
        if not os.path.isabs(self.p['save_dir']):
            raise InvalidSpec('save_dir', '%r is not an absolute path' % (self.p['save_dir'],))
        if self.p['save_timeout'] <= 0:
            raise InvalidSpec('save_timeout', 'must be a positive number of seconds, got %d' % self.p['save_timeout'])
        if self.state == 'absent':
            # removing a guest needs only its name
            problem = name_problem(self.name)
            if problem:
                raise InvalidSpec('name', '%r %s' % (self.name, problem))
        else:
            dom.validate(self.spec)

    def read(self):
        # stopping or removing a guest does not need its configuration; comparing it does
        need_config = self.state not in ('absent', 'shutdown')
        live = lifecycle.find_domain(self.client, self.name, need_config=need_config, domains=self.domains)
        if lifecycle.settle(self.client, self.name, live, start_timeout=self.p['start_timeout']):
            # it was rebooting or crashing: read what xl's monitor made of it
            live = lifecycle.find_domain(self.client, self.name, need_config=need_config)
        found = Found(live, self.files.read(), saved=self.image.exists())
        self.image_after = found.saved
        self.found = found
        return found

    # -- state absent ----------------------------------------------------------------------

    def remove(self, found):
        """Not running, no save image, no autostart entry, no config file. Disks are never touched."""
        if found.live is not None:
            self.stop(found.live)
        if self.image.remove():
            self.did('save image %s removed' % self.image.path)
        self.image_after = False
        self.note(self.files.set_autostart(False))
        if found.file_before is not None or self.files.exists():
            self.did('config file removed')
            if self.p['backup']:
                self.keep_backup()
            self.files.remove()
        self.result['config_file'] = None
        return self.finish(None, found, AFTER_STATE['absent'], None, [])

    # -- states present, running, paused, shutdown ------------------------------------------

    def define(self, found, plan):
        """The guest keeps a config file (`plan`: prepare's). Stage the new file, clear a domain left shut
        down, then one of: stop it (shutdown); restart it (apply=restart, changes that need one); or apply
        the live changes, put the files in place and reach the power state (present, running, paused)."""
        self.stage(plan)
        live = self.clear_stopped(found.live)
        if self.state == 'shutdown':
            return self.shut_down(found, live, plan)
        if plan.restart_now:
            return self.restart(found, live, plan)
        paused_now = self.apply_live_changes(live, plan)
        self.put_files(plan)
        if plan.active and not plan.saving:
            self.discard_image(found)  # a stale image of a guest that runs (discard_saved=true)
        self.reach_power_state(plan, paused_now, found)
        return self.finish(None if plan.saving else live, found, self.after_state(found, plan), plan.file_after,
                           plan.changes, refresh=self.live_touched)

    def refuse_state(self, found):
        """What the state asked cannot be reached from what was found: fail before anything changes (and warn
        of a stale save image beside a guest that runs)."""
        if self.state == 'saved':
            if not is_active(found.live) and not found.saved:
                now = found.live['state'] if found.live else found.state
                raise NotRunningError(
                    '%s cannot be saved: it is not running (%s) and has no save image in %s. Start it first '
                    '(state=running). Nothing was changed.' % (self.name, now, self.image.save_dir))
            if is_active(found.live):
                live = found.live
                memory = live['memory_mb']['current'] or live['memory_mb']['target'] or live['memory_mb']['max'] or 0
                self.image.check_room(memory)
        elif found.saved and not self.p['discard_saved']:
            if self.state == 'shutdown':
                raise SavedImageError(
                    '%s is saved (memory image %s): state=shutdown would throw its memory away. Set discard_saved=true '
                    'to delete the image, or declare state=saved. Nothing was changed.' % (self.name, self.image.path))
            if is_active(found.live) and self.state != 'saved':
                # booted afresh while an image was kept (by hand, or xendomains could not restore it)
                self.client.warnings.append(
                    '%s runs, and a save image of it is at %s: that image is stale (restoring it would run the guest '
                    'from the past against disks that moved on). Delete it, or run again with discard_saved=true.'
                    % (self.name, self.image.path))

    def plan(self, found):
        """Compare; when something is to be done, check the guest against the host and let xl check the file."""
        plan = Plan(self.spec, self.state, self.p['apply'], found)
        if plan.touches_host:
            dom.validate(self.spec, host=self.host(), path_exists=self.path_exists)
            if plan.file_changed and self.p['validate']:
                self.dry_run(plan.file_after)
        return plan

    def stage(self, plan):
        """Put the new config file on disk beside the old one before the domain is touched: a config
        directory that cannot take it (full, read-only) fails the task here, with nothing changed."""
        if plan.file_changed and not self.check:
            if self.p['backup']:
                self.keep_backup()
            self.files.stage(plan.file_after)

    def clear_stopped(self, live):
        """A domain shut down or crashed but kept (on_poweroff=preserve, or its xl monitor died) is
        destroyed before a state that runs it or keeps it stopped (`present` leaves it); returns the
        live domain left."""
        if live is not None and not is_active(live) and self.state in ('running', 'paused', 'shutdown'):
            self.stop(live)
            return None
        return live

    def shut_down(self, found, live, plan):
        if plan.active:
            self.stop(live)
            plan.drop_changes()
        self.discard_image(found)
        self.put_files(plan)
        return self.finish(None, found, AFTER_STATE['shutdown'], plan.file_after, [])

    def restart(self, found, live, plan):
        """apply=restart with changes that need it: stop, put the new file in place, start again."""
        self.stop(live)
        if plan.file_changed:
            self.did('config file updated')
            self.files.commit()
        try:
            self.start(plan)
        except Exception:
            if not self.check and plan.file_before is not None:
                # leave the guest where it was: running, from its previous definition
                lifecycle.create(self.client, self.name, self.files.path, timeout=self.p['start_timeout'])
                self.applied.append('restarted from the previous config file')
            raise
        self.applied[-1] = 'restart (%s)' % ', '.join(sorted(set(c.key for c in plan.restart_changes)))
        self.note(self.files.set_autostart(self.p['autostart']))
        return self.finish(live, found, self.state, plan.file_after, plan.changes, refresh=True)

    def apply_live_changes(self, live, plan):
        """Apply what Xen changes live (unless apply=next_boot); the rest is pending. Returns whether
        the domain is paused now."""
        paused_now = plan.active and live['state'] == 'paused'
        if not plan.active:
            return paused_now
        if plan.apply == 'next_boot':
            self.pending = [c.as_dict() for c in plan.changes]
            return paused_now
        live_changes = plan.live_changes
        if paused_now and live_changes and (self.state != 'paused' or any(c.key == 'vcpus' for c in live_changes)):
            # a paused guest cannot online or offline vCPUs: run it first (paused again below if wanted)
            self.did('unpause', live=True)
            paused_now = False
            if not self.check:
                lifecycle.set_paused(self.client, self.name, False)
        for change in live_changes:
            self.did(' '.join(lifecycle.live_change_args(self.name, change)), live=True)
            if not self.check:
                self.fresh = lifecycle.apply_live_change(self.client, self.name, change, ignore_host=True,
                                                         vcpu_timeout=self.p['vcpu_timeout'], domid=live['domid'])
        self.pending = [c.as_dict() for c in plan.restart_changes]
        return paused_now

    def put_files(self, plan):
        """The staged config file into place (or a secret's file made 0600), then autostart."""
        if plan.file_changed:
            self.did('config file %s' % ('created' if plan.file_before is None else 'updated'))
            self.files.commit()
        elif self.files.secure(plan.secret):
            self.did('config file mode set to 0600')
        self.note(self.files.set_autostart(self.p['autostart']))

    def reach_power_state(self, plan, paused_now, found):
        if plan.creating and found.saved and not self.p['discard_saved']:
            self.restore(plan)
        elif plan.creating:
            self.discard_image(found)
            self.start(plan)
        elif plan.saving:
            self.save(found.live, paused_now)
        elif plan.active and self.state == 'running' and paused_now:
            self.did('unpause', live=True)
            if not self.check:
                lifecycle.set_paused(self.client, self.name, False)
        elif plan.active and self.state == 'paused' and not paused_now:
            self.did('pause', live=True)
            if not self.check:
                lifecycle.set_paused(self.client, self.name, True)

    def after_state(self, found, plan):
        if self.state == 'present':
            return diff_state(found.live['state']) if plan.active else ('saved' if found.saved else 'defined')
        return AFTER_STATE[self.state]

    # -- transitions -----------------------------------------------------------------------

    def stop(self, live):
        if live['state'] in ('shutdown', 'crashed'):
            self.did('destroy (domain was %s)' % live['state'], live=True)
            if not self.check:
                lifecycle.destroy(self.client, self.name)
            return
        if live['state'] == 'paused':
            # a paused guest cannot act on the shutdown request: xl shutdown needs it running
            self.did('unpause', live=True)
        self.did('shutdown', live=True)
        if not self.check:
            done = lifecycle.shutdown(self.client, self.name, self.p['shutdown_timeout'], force=self.p['force'])
            # what check mode cannot predict (a forced destroy, a domain xl left shut down) is added
            self.applied.extend(d for d in done if d.startswith('destroy'))

    def start(self, plan):
        paused = self.state == 'paused'
        self.did('create' + (' (paused)' if paused else ''), live=True)
        if self.check:
            return
        try:
            lifecycle.create(self.client, self.name, self.files.path, paused=paused, timeout=self.p['start_timeout'])
        except Exception:
            if plan.file_changed:
                self.files.restore(plan.file_before)
                self.applied.append('config file restored after the failed create')
            raise

    def save(self, live, paused_now):
        """`xl save` to the guest's image; the domain is gone afterwards, its definition stays. A paused guest
        is unpaused first: it could not acknowledge the suspend request (xl waits a minute, then fails)."""
        if paused_now:
            self.did('unpause', live=True)
            if not self.check:
                lifecycle.set_paused(self.client, self.name, False)
        self.did('save to %s' % self.image.path, live=True)
        if not self.check:
            lifecycle.save(self.client, self.name, self.image, timeout=self.p['save_timeout'], domid=live['domid'])
        self.pending = []
        self.image_after = True

    def discard_image(self, found):
        if found.saved and self.p['discard_saved']:
            self.did('save image %s discarded' % self.image.path)
            self.image.remove()
            self.image_after = False

    def restore(self, plan):
        """Bring the guest back from its image (not booted afresh), then apply what the declaration changes live.

        The restored domain has the configuration saved in the image, so it is compared with the declaration
        once it runs (in check mode: the configuration read from the image predicts it). What needs a restart
        is left pending: restarting would throw away the memory just restored."""
        paused = self.state == 'paused'
        self.did('restore from %s%s' % (self.image.path, ' (paused)' if paused else ''), live=True)
        if self.check:
            live = self.predict_restored(paused)
        else:
            try:
                lifecycle.restore(self.client, self.name, self.image, paused=paused, timeout=self.p['save_timeout'])
            except Exception:
                if plan.file_changed:
                    self.files.restore(plan.file_before)
                    self.applied.append('config file restored after the failed restore')
                raise
            live = lifecycle.find_domain(self.client, self.name)
        self.image_after = False
        if live is None:
            return
        after = Plan(self.spec, self.state, 'live' if self.p['apply'] == 'restart' else self.p['apply'],
                     Found(live, plan.file_before))
        paused_now = self.apply_live_changes(live, after)
        if paused and not paused_now:
            self.did('pause', live=True)
            if not self.check:
                lifecycle.set_paused(self.client, self.name, True)
        plan.changes = after.changes

    def predict_restored(self, paused):
        """The domain `xl restore` would make, from the configuration in the image (check mode), or None
        (with a warning) when the image cannot be read."""
        try:
            config = self.image.config()
        except (IOError, OSError, parse.XlParseError) as exc:
            self.client.warnings.append('cannot read the configuration saved in %s (%s): what changes after the '
                                        'restore is not predicted' % (self.image.path, exc))
            return None
        if config is None:
            return None
        b_info = config.get('b_info') or {}
        avail = b_info.get('avail_vcpus')
        row = {'name': self.name, 'domid': None, 'flags': '--p---' if paused else 'r-----',
               'memory_mb': (b_info.get('target_memkb') or 0) // 1024,
               'vcpus': len(avail) if isinstance(avail, list) else b_info.get('max_vcpus')}
        return parse.domain_summary(None, config, row=row, source='saved image')

    # -- helpers ---------------------------------------------------------------------------

    def did(self, what, live=False):
        self.applied.append(what)
        self.changed = True
        self.live_touched = self.live_touched or live
        if live:
            self.fresh = None

    def note(self, what):
        """Record what a files verb did (it returns None when it had nothing to do)."""
        if what:
            self.did(what)

    def keep_backup(self):
        backup = self.files.backup()
        if backup:
            self.result['backup_file'] = backup

    def host(self):
        if self.host_facts is not None:
            return self.host_facts()
        return parse.host_facts(self.client.info())

    def dry_run(self, text):
        """`xl -N create FILE` on a private temp copy; raises ConfigRejectedError on failure."""
        fd, path = tempfile.mkstemp(prefix='xen_domain_', suffix='.cfg', dir=self.module.tmpdir)
        try:
            with os.fdopen(fd, 'w') as handle:
                handle.write(text)
            self.client.run(xlcmd.dry_run_create(path))
        except XlCommandError as exc:
            exc.msg = 'The new configuration of %s was rejected by `xl -N create`: %s' % (self.name, exc.msg)
            raise
        finally:
            os.unlink(path)

    # -- the result ------------------------------------------------------------------------

    def finish(self, live, found, after_state, file_after, changes, refresh=False):
        domain = live if is_active(live) else None
        if refresh and not self.check:
            domain = self.fresh if self.fresh is not None else lifecycle.find_domain(self.client, self.name)
        if domain is not None:
            domain = dict(domain)
            domain['config_file'] = self.files.path if self.files.exists() else None
            domain['autostart'] = self.files.autostart()
        result = dict(self.result)
        result.update(changed=self.changed, domain=domain, applied=self.applied, pending=self.pending)
        result.setdefault('config_file', self.files.path)
        result['save_image'] = self.image.path if self.image_after else None
        if self.module._diff:
            result['diff'] = self.diff(found, after_state, file_after, changes)
        return result

    def diff(self, found, after_state, file_after, changes):
        live_before = {'state': found.state}
        live_after = {'state': after_state}
        for change in changes:
            if change.how == 'live' or self.p['apply'] == 'restart':
                live_before[change.key] = change.before
                live_after[change.key] = change.after
        path = self.files.path
        return [
            {'before_header': '%s (before)' % path, 'after_header': path,
             'before': dom.redact(found.file_before) or '', 'after': dom.redact(file_after) or ''},
            {'before_header': 'live domain %s (before)' % self.name, 'after_header': 'live domain %s' % self.name,
             'before': live_before, 'after': live_after},
        ]
