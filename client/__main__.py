"""`python -m client`: the `deepfake` command."""

import sys

from client.cli import main

sys.exit(main())
