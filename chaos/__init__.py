"""gameday: chaos experiments for live-audio streaming stacks.

The package never imports ``soundstage``; it talks to any stack only over the network.
"""

__version__ = "0.1.0"
