"""Text pipeline: call-center emails -> weighted term vectors per unit (PAPER.md, pre-processing)."""
