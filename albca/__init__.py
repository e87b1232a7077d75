"""The composition root: settings, wiring (settings -> services), the CLI, the demo.

Nothing else imports this package; it imports everything else.
"""

__all__: list[str] = []
