"""Text pipeline: call-center emails -> weighted term vectors per unit.

The paper's text pre-processing and term weighting (Coussement & Van den Poel 2008, Appendix A): cleaning,
segmentation, normalisation, the vocabulary, log-tf x idf weights and their sums per unit.
"""
