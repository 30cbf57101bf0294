"""The benchmarks: development tooling, not part of the installed package (they may use scikit-learn).

``python -m bench`` (``make bench``) is :mod:`bench.pipeline`; each of the others runs as
``python -m bench.<name>``: :mod:`bench.svd`, :mod:`bench.kselect`, :mod:`bench.text`,
:mod:`bench.generate`, :mod:`bench.synth_text`. See ``bench/README.md``.
"""
