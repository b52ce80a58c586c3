import sys

from hydraflow_core.cli.main import main

sys.exit(main())
