"""The changelog's "New Modules / Plugins / Roles" come from version_added, not from fragments.

antsibull-changelog lists a module, plugin or role as new in a release when its version_added is that release
(for the first release: exactly that version), so the collection writes no fragment for them. This script, run by
the pipeline's docs stage around the dry run of `antsibull-changelog release` in a throw-away copy:

  version COLLECTION_DIR
      prints the version to dry-run: galaxy.yml's, or the newest version_added of the collection's content when
      that is newer (the release being prepared, e.g. 1.1.0 while galaxy.yml still says 1.0.0).
  check COLLECTION_DIR VERSION
      after the dry run: every module, plugin and role whose version_added is VERSION is listed as new in that
      release of changelogs/changelog.yaml; exits 1 naming those that are not.
"""

import ast
import glob
import os
import sys

import yaml
from packaging.version import Version


def galaxy_version(root):
    with open(os.path.join(root, 'galaxy.yml')) as handle:
        return str(yaml.safe_load(handle)['version'])


def documented(root):
    """(kind, type, name, version_added) of every module, plugin and role of the collection."""
    found = []
    for path in sorted(glob.glob(os.path.join(root, 'plugins', '*', '*.py'))):
        kind = os.path.basename(os.path.dirname(path))
        name = os.path.splitext(os.path.basename(path))[0]
        if kind in ('module_utils', 'doc_fragments') or name.startswith('_'):
            continue
        with open(path) as handle:
            tree = ast.parse(handle.read())
        for node in tree.body:
            if (isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == 'DOCUMENTATION' for t in node.targets)):
                doc = yaml.safe_load(ast.literal_eval(node.value)) or {}
                category = 'module' if kind == 'modules' else 'plugin'
                found.append((category, kind.rstrip('s'), name, doc.get('version_added')))
    for path in sorted(glob.glob(os.path.join(root, 'roles', '*', 'meta', 'argument_specs.yml'))):
        name = os.path.basename(os.path.dirname(os.path.dirname(path)))
        with open(path) as handle:
            main = (yaml.safe_load(handle) or {}).get('argument_specs', {}).get('main', {})
        found.append(('object', 'role', name, main.get('version_added')))
    return found


def main(argv):
    if len(argv) == 2 and argv[0] == 'version':
        root = argv[1]
        versions = [Version(galaxy_version(root))]
        versions += [Version(str(item[3])) for item in documented(root) if item[3]]
        print(max(versions))
        return 0
    if len(argv) == 3 and argv[0] == 'check':
        root, version = argv[1], argv[2]
        with open(os.path.join(root, 'changelogs', 'changelog.yaml')) as handle:
            release = (yaml.safe_load(handle).get('releases') or {}).get(version) or {}
        listed = {('module', 'module', m['name']) for m in release.get('modules') or []}
        for ptype, items in (release.get('plugins') or {}).items():
            listed |= {('plugin', ptype, p['name']) for p in items}
        for otype, items in (release.get('objects') or {}).items():
            listed |= {('object', otype, o['name']) for o in items}
        expected = [(c, t, n) for c, t, n, v in documented(root) if v is not None and str(v) == version]
        missing = [e for e in expected if e not in listed]
        for category, ptype, name in expected:
            print('  new in %s: %s %s%s' % (version, ptype, name, '  <- NOT in the changelog' if (category, ptype, name) in missing else ''))
        if missing:
            print('ERROR: antsibull-changelog did not list these as new in %s (version_added?)' % version, file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
