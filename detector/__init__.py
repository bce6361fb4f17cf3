"""minewatch: find cryptocurrency miners from the wire.

The package is a one-way pipeline (see README, "Architecture"):
source -> decode -> flows -> dissect -> facts -> score -> suspects -> sinks.
"""

__version__ = "0.1.0"
