"""Reading and validating input: incident CSVs (police.uk and mapped) and the ward join.

May import :mod:`hotspots.boundaries`, :mod:`hotspots.crs`, :mod:`hotspots.errors` and the
shared helpers at the top of :mod:`hotspots.geo`; nothing else of the domain.
"""
