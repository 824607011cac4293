"""The distributed path: the same analysis on a Dask cluster, partitioned by space.

Reuses the single-machine pieces so its results equal them.
"""
