"""Offline stand-in for pip's get-pip.py, used by ansible-test to bootstrap pip into its venvs.

ansible-test downloads get-pip.py from a host that CI cannot reach; it first looks in
~/.ansible/test/cache/get_pip_<ver>.py, where .ci/pipeline.sh installs this file.
It bootstraps pip with ensurepip, then installs the requested packages (pip==<ver>) from the
configured package index.  --no-setuptools / --no-wheel are get-pip.py options that pip lacks.
"""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))
