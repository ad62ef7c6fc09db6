"""callbridge: click-to-dial, call log and contacts beside an Asterisk PBX."""

__version__ = "0.1.0"
