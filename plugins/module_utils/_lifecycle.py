# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The lifecycle of a live domain: find it (waiting out a reboot in progress), create it, shut it
# down with a timeout, destroy, pause, and the live changes (memory, vCPUs, devices), each
# verified by reading the domain again (xl's exit code alone is not trusted). Runs xl only
# through the client, with argv from _xl_cmd.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import (
    ConfigUnreadableError,
    DomainExistsError,
    DomainNotFoundError,
    GuestError,
    GuestRestarted,
    GuestTimeout,
    HotplugTimeoutError,
    SaveError,
    XlCommandError,
    XlTimeoutError,
    classify_failure,
)
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import LIBXL_USERDATA_DIR

# Seconds xl's monitor gets to destroy a domain that shut down before we destroy it ourselves.
MONITOR_GRACE = 10
# How long find_domain reads a domain again while libxl cannot report its configuration (being built,
# or its device model busy) before it gives up.
CONFIG_WAIT = 120
# Seconds before the one more `xl create` after libxl killed a hotplug script at its timeout.
# After libxl gave up on a domain because a device hotplug script outlived its timeout (a busy dom0), the
# create or restore is tried again after each of these pauses (seconds): the lab's TCG dom0 with four guests
# booting failed a fifth guest's create twice, 5 s apart (benchmarks/provision, docs/provision.md).
HOTPLUG_RETRY_DELAYS = (5, 20)


def restarted_message(name, domid, row, doing):
    now = 'it is gone' if row is None else 'it runs again as domid %d' % row['domid']
    return ('%s restarted while %s (domid %d before; %s): the guest rebooted or crashed, and Xen acted on its '
            'on_reboot/on_crash setting. Look at its console and `xl dmesg` (a "Triple fault" line means the guest '
            'kernel crashed). The change was not recorded in the config file; run again once the guest is up.'
            % (name, doing, domid, now))


def read_domains(client):
    """Every domain of the host, as find_domain reads them (one `xl list -l` and one `xl list`): a converge of many
    guests reads them once and passes the list to find_domain for each guest."""
    return client.domains(include_transient=True, include_dying=False)


def _read_domain(client, name, domains=None):
    found = None
    for dom in read_domains(client) if domains is None else domains:
        if dom['name'] == name:
            found = dom
        elif dom['name'] in (name + '--incoming', name + '--migratedaway'):
            raise GuestError('%s is being live-migrated (%s exists); run again when the migration has ended'
                             % (name, dom['name']))
    return found


def find_domain(client, name, need_config=True, config_wait=None, domains=None):
    """The live domain NAME (xen_domain_info shape) or None. Fails on a migration in progress,
    and (with need_config) when libxl can report neither its live nor its stored configuration.

    With `domains` (read_domains' list, read before), the first look is in that list, not a new read; the
    reads again that follow (configuration not reported yet) are new reads.

    An unreadable configuration is usually a passing state: libxl is still building the domain (xl's
    monitor re-creates a guest that rebooted; libxl stores the configuration once the domain is built)
    or the HVM device model is too busy to answer libxl's query. Seen in the lab when an HVM guest
    rebooted under load: its new domain was listed by `xl list`, left out by `xl list -l`, and had no
    stored configuration yet. So the domain is read again for up to config_wait seconds before giving up.
    """
    found = _read_domain(client, name, domains)
    if not need_config or found is None or found.get('config_source') is not None:
        return found
    config_wait = CONFIG_WAIT if config_wait is None else config_wait
    started = time.time()
    deadline = started + config_wait
    keep = len(client.warnings)   # the first read's warning stays; re-reads would repeat it
    delay = 1.0
    while time.time() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
        found = _read_domain(client, name)
        del client.warnings[keep:]
        if found is None or found.get('config_source') is not None:
            client.warnings.append(
                'waited %.0f s for libxl to report the configuration of %s (it was being built or its device '
                'model did not answer); read it again and used that.' % (time.time() - started, name))
            return found
    raise ConfigUnreadableError(
        '%s (id %d) is running, but libxl could not report its configuration for %d seconds: `xl list -l` '
        'left it out and there is no stored configuration for it in %s. Nothing was changed; acting on an '
        "unknown configuration could restart or re-plug the guest. Check the domain's device model "
        '(qemu-system-i386 -xen-domid %d) and run again.'
        % (name, found['domid'], config_wait, LIBXL_USERDATA_DIR, found['domid']))


# States in which xl's monitor (the `xl create` process that stays with each guest) is about to act:
# it destroys the domain and, for a reboot (or a crash with on_crash=restart), creates it again.
MONITOR_STATES = ('shutdown', 'crashed')


def settle(client, name, live, grace=MONITOR_GRACE, start_timeout=60):
    """Wait for xl's monitor to finish with a domain found shut down or crashed; True when we waited.

    A guest that reboots is shut down (reason reboot) for a moment, then gone, then paused while libxl
    builds the new domain, then running under a new domid (captured: xen-4.17.5-lab-reboot). Acting
    on it meanwhile races the monitor: destroying and re-creating it ourselves made the monitor's own
    create fail ("Domain with name ... already exists", seen in the lab when an HVM guest rebooted
    during a run). The caller re-reads the domain when this returns True. A domain still shut down
    after `grace` seconds (on_reboot/on_poweroff/on_crash = preserve, or no monitor) is left to the
    caller; so is one that stays gone.
    """
    if live is None or live['state'] not in MONITOR_STATES:
        return False
    old = live['domid']
    deadline = time.time() + grace
    delay = 0.2
    seen_gone = False
    while True:
        row = row_of(client, name)
        if row is not None and row['domid'] != old:
            # created again: libxl builds it paused and unpauses it when done
            new = row['domid']
            try:
                wait_for(client, name, lambda r: r is None or r['domid'] != new or is_active(r), start_timeout,
                         'finish its restart')
            except GuestTimeout:
                pass
            client.warnings.append(
                '%s was restarting when this run read it (domain %d shut down, reason %s); waited for xl to '
                'create it again (domain %d) and used that.' % (name, old, live.get('shutdown_reason'), new))
            return True
        if row is None and not seen_gone:
            # destroyed by the monitor: a restart follows within moments, if one is due
            seen_gone = True
            deadline = max(deadline, time.time() + grace)
        if time.time() >= deadline:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def row_of(client, name):
    """`xl list NAME` row, or None when the domain does not exist."""
    try:
        rows = client.list_rows(name)
    except DomainNotFoundError:
        return None
    for row in rows:
        if row['name'] == name:
            return row
    return None


def wait_for(client, name, predicate, timeout, what, domid=None):
    """Poll `xl list NAME` until predicate(row or None) is true; returns the last row.

    With domid, the domain must stay that domain: GuestRestarted when it goes away or is replaced.
    """
    deadline = time.time() + timeout
    delay = 0.2
    while True:
        row = row_of(client, name)
        if domid is not None and (row is None or row['domid'] != domid):
            raise GuestRestarted(restarted_message(name, domid, row, 'waiting for it to %s' % what))
        if predicate(row):
            return row
        if time.time() >= deadline:
            state = parse.state_from_flags(row['flags']) if row else 'gone'
            raise GuestTimeout('%s did not %s within %d seconds (state now: %s)' % (name, what, timeout, state))
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def is_active(row):
    return row is not None and parse.state_from_flags(row['flags']) in ('running', 'blocked')


def _timeout_line(stderr):
    """The line of xl's stderr that names what timed out (else its last line)."""
    lines = (stderr or '').strip().splitlines() or ['']
    return next((line for line in lines if 'because of timeout' in line), lines[-1])


def create(client, name, config_path, paused=False, timeout=60):
    """`xl create FILE` and wait (up to `timeout` s) until the domain runs (or is paused, with paused=True).

    `xl create` itself is bounded by command_timeout like every xl call. On failure, the half-made
    domain that this create built is destroyed by its id, and nothing else (see clean_failed_create).
    """
    args = xlcmd.create(config_path, paused=paused)
    for attempt, delay in enumerate(HOTPLUG_RETRY_DELAYS + (None,), 1):
        try:
            client.run(args, mutating=True)
            break
        except XlCommandError as exc:
            exc.msg += clean_failed_create(client, name, exc)
            if delay is not None and isinstance(exc, HotplugTimeoutError):
                # libxl killed a device hotplug script (vif-bridge, block) at its timeout and gave up on
                # the domain: a busy dom0, gone a moment later (seen on the lab's loaded TCG dom0s).
                # Nothing of the domain is left; creating it again after a pause is what an operator would do.
                client.warnings.append(
                    '%s: a device hotplug script outlived libxl\'s timeout and xl gave up on the domain '
                    '(dom0 busy?); created it again after %d s (attempt %d). xl said: %s'
                    % (name, delay, attempt + 1, _timeout_line(exc.stderr)))
                time.sleep(delay)
                continue
            if attempt > 1:
                exc.msg += ' (attempt %d of %d after hotplug timeouts)' % (attempt, len(HOTPLUG_RETRY_DELAYS) + 1)
            raise
    want = ('paused',) if paused else ('running', 'blocked')

    def started(row):
        if row is None:
            raise GuestError('%s disappeared right after `xl create` (check /var/log/xen/xl-%s.log and the guest '
                             'console log)' % (name, name))
        state = parse.state_from_flags(row['flags'])
        if state in ('crashed', 'shutdown', 'dying'):
            raise GuestError('%s is %s right after `xl create`: the guest failed to boot (check '
                             '/var/log/xen/xl-%s.log and its console log)' % (name, state, name))
        return state in want

    return wait_for(client, name, started, timeout, 'start')


def clean_failed_create(client, name, exc):
    """After `xl create` of NAME failed: destroy the domain that this create left half-made, only that one.

    Called with NAME absent before the create (the module read it so, in the host's critical section).
    A domain of that name found now is ours when libxl's messages name its id (libxl names the domain
    it was building); when xl said the name already exists, the domain libxl built is gone and the one
    found belongs to someone else: it is left alone. With no id in xl's output (xl killed, crashed or
    stopped by the timeout) the domain found is the one this create made. It is destroyed by domain id,
    so a domain created meanwhile under the same name is never hit.
    Returns a sentence for the error message ('' when nothing was found).
    """
    leftover = row_of(client, name)
    if leftover is None:
        return ''
    domid = leftover['domid']
    named = parse.libxl_domids(exc.stderr)
    if isinstance(exc, DomainExistsError) or (named and domid not in named):
        return (' A domain %s (id %d) exists now, but it is not the one this run tried to create (xl named %s): '
                'it was left alone.' % (name, domid, ', '.join('id %d' % i for i in named) or 'no id'))
    result = client.run(xlcmd.destroy(domid), mutating=True, check=False)
    try:
        wait_for(client, name, lambda r: r is None or r['domid'] != domid, 30, 'disappear')
    except GuestTimeout:
        return (' The half-created domain %s (id %d) could not be destroyed (`xl destroy %d`: %s); destroy it by '
                'hand.' % (name, domid, domid, (result.stderr or result.stdout or 'no message').strip()))
    return ' The half-created domain %s (id %d) was destroyed.' % (name, domid)


def shutdown(client, name, timeout, force=False):
    """Gracefully shut NAME down and wait until it is gone; destroy with force=True.

    Returns a list of what was done. A domain left shut down but not destroyed (its xl monitor
    process died) is destroyed: it is already down, destroying only releases it.
    """
    done = []
    row = row_of(client, name)
    if row is None:
        return done
    state = parse.state_from_flags(row['flags'])
    if state == 'paused':
        client.run(xlcmd.unpause(name), mutating=True)
        done.append('unpause')
    if state in ('shutdown', 'crashed'):
        destroy(client, name)
        return done + ['destroy (was %s)' % state]
    args = xlcmd.shutdown(name)
    try:
        result = client.run(args, mutating=True, timeout=timeout, check=False)
        if result.rc != 0 and 'PV control interface not available' in (result.stderr + result.stdout):
            # HVM guest without PV drivers: send the ACPI power button instead.
            args = xlcmd.shutdown(name, acpi=True)
            result = client.run(args, mutating=True, timeout=timeout, check=False)
        if result.rc != 0 and row_of(client, name) is not None:
            raise classify_failure(result.cmd, result.rc, result.stdout, result.stderr)
        done.append(' '.join(args[:-1]))
    except XlTimeoutError:
        now = row_of(client, name)
        if now is None:  # gone right at the deadline: it did shut down
            return done + [' '.join(args[:-1])]
        if not force:
            raise _shutdown_timeout(name, row['domid'], now, timeout)
        destroy(client, name)
        return done + ['destroy (shutdown timed out)']
    # xl's monitor process destroys the shut-down domain (on_poweroff=destroy): give it a moment
    try:
        row = wait_for(client, name, lambda r: r is None, MONITOR_GRACE, 'disappear')
    except GuestTimeout:
        row = row_of(client, name)
    if row is not None:
        left = parse.state_from_flags(row['flags'])
        if left in ('shutdown', 'crashed'):
            destroy(client, name)
            done.append('destroy (left %s by xl)' % left)
        elif left != 'dying':
            if not force:
                raise GuestError('%s is still %s after shutdown' % (name, left))
            destroy(client, name)
            done.append('destroy')
        else:
            wait_for(client, name, lambda r: r is None, 30, 'disappear')
    return done


def _shutdown_timeout(name, domid, row, timeout):
    """The error for a shutdown that outlived its timeout, saying what the domain (ROW, read after the
    timeout) does now: still there (the guest ignored the request), or back under a new domid (it
    rebooted or crashed instead of powering off)."""
    hint = ' Set force: true to destroy it, or raise shutdown_timeout.'
    if row['domid'] != domid:
        return GuestRestarted('%s did not shut down within %d seconds: it restarted meanwhile (domain %d is now '
                              'domain %d), so the guest rebooted or crashed instead of powering off.%s'
                              % (name, timeout, domid, row['domid'], hint))
    return GuestTimeout('%s (domain %d, %s) did not shut down within %d seconds: the guest did not act on the '
                        'request (an HVM guest needs its PV drivers, or an ACPI power-button handler such as '
                        'acpid or systemd-logind).%s'
                        % (name, domid, parse.state_from_flags(row['flags']), timeout, hint))


def destroy(client, name):
    """`xl destroy` and wait until the domain is gone.

    A destroy that races with xl's own monitor destroying the domain fails ("Device Model already
    exited", "unable to find domain info"): that is success if the domain is then gone.
    """
    result = client.run(xlcmd.destroy(name), mutating=True, check=False)
    try:
        wait_for(client, name, lambda r: r is None, 30, 'disappear')
    except GuestTimeout:
        if result.rc != 0:
            raise classify_failure(result.cmd, result.rc, result.stdout, result.stderr)
        raise


def _first_error(text):
    """The first line of xl's output that says what went wrong (libxc/libxl print progress lines first)."""
    lines = [line.strip() for line in (text or '').strip().splitlines() if line.strip()]
    return next((line for line in lines if 'error' in line.lower() or line.startswith('Failed')),
                lines[-1] if lines else 'no message')


def save(client, name, image, timeout, domid):
    """Save NAME (domain `domid`, as the caller read it) to its image (_files.SaveImage) with `xl save`, and check
    that it is so.

    xl writes to the image's temp name; only when the domain is gone and the file is there is it renamed
    to the image. `xl save` that fails resumes the guest ("Failed to save domain, resuming domain"): the
    temp file is deleted, the guest runs as before, and SaveError says what xl said and where the guest is.
    The guest must be running: a paused guest cannot acknowledge the suspend request (captured:
    xen-4.17.5-lab-save, `xl save` of a paused PV guest failed after 63 s and left it paused).
    """
    image.prepare()
    try:
        client.run(xlcmd.save(name, image.tmp), mutating=True, timeout=timeout)
    except XlCommandError as exc:
        image.discard_tmp()
        row = row_of(client, name)
        where = ('it runs again as before (xl resumed it)' if is_active(row) else
                 'it is now %s' % (parse.state_from_flags(row['flags']) if row else 'gone: its memory is lost'))
        raise SaveError('`xl save %s` failed (rc %s): %s; %s. No image was kept.'
                        % (name, exc.rc, _first_error(exc.stderr or exc.stdout or exc.msg), where),
                        cmd=exc.cmd, rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)
    row = wait_for(client, name, lambda r: r is None or r['domid'] != domid, 30, 'disappear after `xl save`')
    if row is not None or not os.path.isfile(image.tmp) or os.path.getsize(image.tmp) == 0:
        image.discard_tmp()
        raise SaveError('`xl save %s` exited 0, but %s. No image was kept.'
                        % (name, 'the domain runs again as id %d' % row['domid'] if row else 'it wrote no image'))
    image.commit()


def restore(client, name, image, paused=False, timeout=60, keep=False):
    """`xl restore [-p] IMAGE`, wait until NAME runs (or is paused), then delete the image (unless `keep`).

    The guest continues where it was saved (its memory, its uptime, its boot id): a second restore of the
    same image would run it from the past against disks that moved on, so the image goes once the domain
    is back. keep=True is for a snapshot's memory image, whose disks are put back with it. A restore
    that fails leaves the image in place (nothing is lost) and destroys only the half-made
    domain it built (clean_failed_create).
    """
    for attempt, delay in enumerate(HOTPLUG_RETRY_DELAYS + (None,), 1):
        try:
            client.run(xlcmd.restore(image.path, paused=paused), mutating=True, timeout=timeout)
            break
        except XlCommandError as exc:
            exc.msg += clean_failed_create(client, name, exc) + ' The image %s was kept.' % image.path
            if delay is not None and isinstance(exc, HotplugTimeoutError):
                # as in create(): libxl killed a block/vif hotplug script at its timeout on a busy dom0 and gave
                # up on the domain (seen in the lab: `xl restore` of a snapshot's image beside a CPU-bound job).
                # The image is intact and nothing of the domain is left; restoring again after a pause is what
                # an operator would do.
                client.warnings.append(
                    '%s: a device hotplug script outlived libxl\'s timeout and `xl restore` gave up on the domain '
                    '(dom0 busy?); restored it again after %d s (attempt %d). xl said: %s'
                    % (name, delay, attempt + 1, _timeout_line(exc.stderr)))
                time.sleep(delay)
                continue
            if attempt > 1:
                exc.msg += ' (attempt %d of %d after hotplug timeouts)' % (attempt, len(HOTPLUG_RETRY_DELAYS) + 1)
            raise
    want = ('paused',) if paused else ('running', 'blocked')

    def back(row):
        if row is None:
            raise SaveError('%s disappeared right after `xl restore %s` (check /var/log/xen/xl-%s.log); the image '
                            'was kept.' % (name, image.path, name))
        state = parse.state_from_flags(row['flags'])
        if state in ('crashed', 'shutdown', 'dying'):
            raise SaveError('%s is %s right after `xl restore %s`; the image was kept.' % (name, state, image.path))
        return state in want

    row = wait_for(client, name, back, timeout, 'run again from its image')
    if not keep:
        image.remove()
    return row


def set_paused(client, name, paused):
    """pause/unpause exit 0 even when they fail: re-read and fail if the state is not reached."""
    client.run(xlcmd.pause(name) if paused else xlcmd.unpause(name), mutating=True)
    row = row_of(client, name)
    state = parse.state_from_flags(row['flags']) if row else 'gone'
    if (state == 'paused') != paused:
        raise GuestError('`xl %s %s` exited 0 but the domain is %s' % ('pause' if paused else 'unpause', name, state))


def set_memory(client, name, mib, domid=None):
    """`xl mem-set`, verified by reading the domain again; returns that read (the domain after the change)."""
    client.run(xlcmd.mem_set(name, mib), mutating=True)
    dom = find_domain(client, name)
    if domid is not None and (dom is None or dom['domid'] != domid):
        raise GuestRestarted(restarted_message(name, domid, dom, 'its memory target was set to %d MiB' % mib))
    if dom is None or dom['memory_mb']['target'] != mib:
        raise GuestError('`xl mem-set %s %dm` did not take effect (target now %s MiB)'
                         % (name, mib, dom and dom['memory_mb']['target']))
    return dom


def set_vcpus(client, name, count, ignore_host=False, timeout=30, domid=None):
    """Set the online vCPU count and wait until the guest has onlined/offlined them.

    With domid (the domain's id before the change), a guest that reboots or crashes meanwhile is
    reported as such (GuestRestarted), not as a guest that did not online its vCPUs.
    """
    client.run(xlcmd.vcpu_set(name, count, ignore_host), mutating=True)
    try:
        wait_for(client, name, lambda r: r is not None and r['vcpus'] == count, timeout,
                 'bring its online vCPUs to %d' % count, domid=domid)
    except GuestTimeout as exc:
        raise GuestTimeout('%s. Xen made the vCPUs available, but the guest kernel did not online them: it needs '
                           'CPU hotplug support (CONFIG_HOTPLUG_CPU, and a udev rule or agent that writes 1 to '
                           '/sys/devices/system/cpu/cpuN/online).' % exc.msg)


def live_change_args(name, change, ignore_host=True):
    """The xl call that makes one 'live' Change (from _domain.compare_live) on the domain NAME."""
    if change.key == 'memory':
        return xlcmd.mem_set(name, change.after)
    if change.key == 'vcpus':
        return xlcmd.vcpu_set(name, change.after, ignore_host=ignore_host)
    plug = change.after is not None
    if change.key == 'disks':
        return xlcmd.block_attach(name, xlcfg.disk_spec(change.device)) if plug \
            else xlcmd.block_detach(name, change.device['vdev'])
    if change.key == 'vifs':
        return xlcmd.network_attach(name, xlcfg.vif_spec(change.device)) if plug \
            else xlcmd.network_detach(name, change.device.get('devid'))
    raise ValueError('%s cannot be changed live' % change.key)


def apply_live_change(client, name, change, ignore_host=True, vcpu_timeout=30, domid=None):
    """Carry out one 'live' Change on NAME and verify it (on the domain `domid`, when given). Returns the domain as
    the verification read it (find_domain's shape) when that read was a whole one (memory), else None."""
    if change.key == 'memory':
        return set_memory(client, name, change.after, domid=domid)
    if change.key == 'vcpus':
        set_vcpus(client, name, change.after, ignore_host=ignore_host, timeout=vcpu_timeout, domid=domid)
    else:
        client.run(live_change_args(name, change, ignore_host), mutating=True)
    return None
