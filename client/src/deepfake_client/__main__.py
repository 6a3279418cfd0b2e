"""`python -m deepfake_client`: the `deepfake` command."""

import sys

from deepfake_client.cli import main

sys.exit(main())
