"""`python -m minibig ...` is the `minibig` command."""

import sys

from minibig.cli import main

sys.exit(main())
