import sys

from mlops_stack.cli import main

sys.exit(main())
