# Copyright: xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a lab run's time goes: the slowest tasks of each playbook, printed at its end.

Enabled by .ci/pipeline.sh for the Molecule scenarios (ANSIBLE_CALLBACK_PLUGINS pointing here,
ANSIBLE_CALLBACKS_ENABLED=xenlab_timing); any ansible-playbook run can use it the same way.
"""

from __future__ import annotations

DOCUMENTATION = """
name: xenlab_timing
type: aggregate
short_description: print the slowest tasks of a playbook run
description:
  - At the end of a playbook, prints the wall time of the run, the slowest tasks (summed over
    hosts and loop items, wall time from the task's start to its last host's result) and the
    number of tasks.
options:
  top:
    description: how many tasks to print
    type: int
    default: 12
    env:
      - name: XENLAB_TIMING_TOP
"""

import time

from ansible.plugins.callback import CallbackBase


def slowest(durations, top):
    """[(seconds, task label)] of the top slowest tasks, slowest first (pure)."""
    return sorted(((secs, label) for label, secs in durations.items()),
                  key=lambda x: (-x[0], x[1]))[:top]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "xenlab_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._start = time.time()
        self._durations = {}
        self._current = None
        self._task_start = None

    def _close(self):
        if self._current is not None:
            label = self._current
            self._durations[label] = self._durations.get(label, 0.0) + time.time() - self._task_start
            self._current = None

    def _open(self, task):
        self._close()
        path = task.get_path() or ""
        self._current = "%s (%s)" % (task.get_name().strip(), path.rsplit("/", 2)[-1] if path else "?")
        self._task_start = time.time()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._open(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._open(task)

    def v2_playbook_on_stats(self, stats):
        self._close()
        top = self.get_option("top")
        total = time.time() - self._start
        self._display.display("XENLAB-TIMING %.0f s for %d tasks; slowest:" % (total, len(self._durations)))
        for secs, label in slowest(self._durations, top):
            self._display.display("XENLAB-TIMING %7.1f s  %s" % (secs, label))
