"""The application: the stages, the pipeline that runs them, and the ``churn-spark`` command line.

The library below (text, lsi, modeling, evaluation, lake) never imports from here.
"""
