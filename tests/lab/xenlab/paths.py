"""Where the lab keeps its images, caches and lab state (all outside the repository)."""

import os


def cache_root():
    root = os.environ.get("XENLAB_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "xenfleet-lab")
    return os.path.abspath(root)


def images_dir():
    return os.path.join(cache_root(), "images")


def debs_dir(suite):
    return os.path.join(cache_root(), "debs", suite)


def labs_dir():
    return os.environ.get("XENLAB_STATE") or os.path.join(cache_root(), "labs")


def lab_dir(name):
    return os.path.join(labs_dir(), name)


def logs_dir(name):
    return os.path.join(cache_root(), "logs", name)
