import sys

from xenlab.cli import main

sys.exit(main())
