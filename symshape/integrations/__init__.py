"""symshape on the engines AutoML pipelines already run, each an optional extra:

- :mod:`symshape.integrations.ray` (``pip install 'symshape[ray]'``): columns of bindings through
  ``ray.data.Dataset.map_batches``, and grid sweeps split over a Ray cluster into Parquet files;
- :mod:`symshape.integrations.optuna` (``pip install 'symshape[optuna]'``): every declared symbol
  suggested within its range, signed margins for ``constraints_func``, pruning before training.

Nothing here is imported by ``import symshape``; each module imports its engine when used.
"""
