"""Run xen_host_network's main() for real (real AnsibleModule, real commands) with the module args given as JSON
in argv[1]; prints the module's JSON result."""
import json
import sys

from ansible.module_utils.testing import patch_module_args

from ansible_collections.xenfleet.xen.plugins.modules import xen_host_network

args = json.loads(sys.argv[1])
with patch_module_args(args):
    xen_host_network.main()
