"""Tweet classification with Spark NLP text features and Spark ML classifiers.

Modules: :mod:`tasks` (labels per task), :mod:`text` (cleaning and the "unknown" check, as
Column functions), :mod:`features` (the pipeline stages), :mod:`data` (training and labelled
files), :mod:`metrics` (pure-Python scores and threshold choice), :mod:`model_store` (saved
models and their ``metrics.json``), :mod:`predict` (apply a model, route to the review queue).
"""
