"""``python -m vgrerank.builder.fakeflickr``: see :mod:`.cli`."""

import sys

from .cli import main

sys.exit(main())
