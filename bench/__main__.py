"""``python -m bench`` (``make bench``): the pipeline benchmark, :func:`bench.pipeline.main`."""

import sys

from bench.pipeline import main

sys.exit(main())
