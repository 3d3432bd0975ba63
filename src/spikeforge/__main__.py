"""``python -m spikeforge`` (also what ``torchrun -m spikeforge`` runs)."""

import sys

from .cli import main

sys.exit(main())
