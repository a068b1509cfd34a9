# xenfleet.xen developer commands. `make test` is the README's test command and what CI runs
# (through .ci/run). Each stage target runs just that stage; STACKS="2.21" limits the controller stacks.
# Venvs and caches live under $${XDG_CACHE_HOME:-~/.cache}/xenfleet-ci, never in the repo.

SHELL := /bin/bash
PIPELINE := bash .ci/pipeline.sh
STACKS ?= 2.19 2.20 2.21
# The nested Xen lab's demo entry point (owned by the lab, tests/lab/).
LAB_DEMO ?= tests/lab/demo

.PHONY: test lint docs sanity units build smoke molecule quick demo clean help

help:
	@echo "make test      everything CI runs: lint docs sanity units build molecule, on every stack"
	@echo "make quick     lint + sanity + units on the newest stack only"
	@echo "make lint | docs | sanity | units | build | molecule   one stage (STACKS=\"2.21\" to narrow)"
	@echo "make demo      the main job on the nested Xen lab ($(LAB_DEMO))"
	@echo "make clean     remove build output and the cached venvs"

test:
	$(PIPELINE)

lint docs sanity units build molecule:
	XENFLEET_CI_STAGES="$@" XENFLEET_CI_STACKS="$(STACKS)" $(PIPELINE)

smoke: build

quick:
	XENFLEET_CI_STAGES="lint sanity units" XENFLEET_CI_STACKS="2.21" $(PIPELINE)

demo:
	@if [ -x "$(LAB_DEMO)" ]; then exec "$(LAB_DEMO)"; else \
	  echo "make demo: $(LAB_DEMO) does not exist yet (the nested Xen lab is work in progress)" >&2; exit 2; fi

clean:
	rm -rf tests/output .ansible xenfleet-xen-*.tar.gz
	rm -rf "$${XENFLEET_CI_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/xenfleet-ci}"
