"""Statistics and evaluation: Gi*, emerging hot spots, trends, harm weights, PAI/PEI/RRI,
period comparison and k-distance help.

May import :mod:`hotspots.geo.inputs`, :mod:`hotspots.geo.clusters` and
:mod:`hotspots.geo.analysis` (an evaluation refits the analysis).
"""
