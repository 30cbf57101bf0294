"""Sizes of the generated worlds: ``tiny`` (tests), ``paper`` (Tables 1-2), ``scale`` (millions).

All presets share the same churn mechanism and behaviour; they differ in the number of
customers (blocks x customers per block) and in the share of customers of the writing kind,
which sets the ratio of units with and without emails:

=======  ============================================  ==========================================
preset   target                                        how
=======  ============================================  ==========================================
tiny     ~1,500 units with emails, ~2,000 without      8 blocks of 500 customers, 45% writers
paper    ~12,800 units with emails (Table 1), 18.5%    66 blocks of 2,000 customers, 27% writers
         churn among them, 1.47 emails per unit
         (Table 2), > 100,000 units without emails
scale    ``emails`` N emails in the units' last        blocks of 4,000 customers, all writers;
         terms: ~N / 1.47 units with emails, about     blocks = N / (measured emails per block);
         as many without                               16 Monte Carlo draws for p_marketing
=======  ============================================  ==========================================

A block's content depends on (seed, block id, preset parameters) only, so a preset with more
blocks contains the smaller one's blocks unchanged.
"""

from __future__ import annotations

import math
from dataclasses import replace

from churn_spark.synth.mechanism import Mechanism
from churn_spark.synth.world import WorldParams

#: The calibrated churn mechanism (see docs/generator.md, "Calibration").
MECHANISM = Mechanism(intercept_emailers=-2.02, intercept_others=-1.35, marketing_scale=0.96,
                      text_scale=0.56)

PRESETS: dict[str, WorldParams] = {
    "tiny": WorldParams(seed=0, n_blocks=8, block_customers=540, writer_share=0.9, mechanism=MECHANISM),
    "paper": WorldParams(seed=0, n_blocks=69, block_customers=2000, writer_share=0.225, mechanism=MECHANISM),
    "scale": WorldParams(seed=0, n_blocks=1, block_customers=4000, writer_share=1.0, writer_intercept=-0.75,
                         oracle_draws=16, mechanism=MECHANISM),
}

#: Emails in the units' last terms per scale block (measured: mean over 24 blocks, seed 7).
SCALE_UNIT_EMAILS_PER_BLOCK = 2430.0
SCALE_DEFAULT_EMAILS = 1_000_000


def preset_params(name: str, seed: int, emails: int = 0) -> WorldParams:
    """The world parameters of preset ``name`` for ``seed``; ``emails`` sizes the scale preset."""
    if name not in PRESETS:
        raise ValueError(f"unknown generate.preset {name!r}: choose one of {sorted(PRESETS)}")
    params = replace(PRESETS[name], seed=seed)
    if name == "scale":
        target = emails or SCALE_DEFAULT_EMAILS
        params = replace(params, n_blocks=max(1, math.ceil(target / SCALE_UNIT_EMAILS_PER_BLOCK)))
    elif emails:
        raise ValueError(f"generate.emails sizes the scale preset only (preset {name!r} has a fixed size)")
    return params
