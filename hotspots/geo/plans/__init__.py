"""Plans for what a partnership does next: patrol plans that follow the evidence on dosage.

May import :mod:`hotspots.geo.clusters` and the shared helpers at the top of :mod:`hotspots.geo`.
"""
