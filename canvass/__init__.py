"""canvass: weekly reports for door-to-door civilised-city campaigns (创城入户宣传)."""

__version__ = "0.1.0"
