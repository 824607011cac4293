"""hotspots: crime and harm hotspot mapping for community safety partnerships."""

__version__ = "0.1.0"
