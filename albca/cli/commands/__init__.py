"""The commands of ``albca``, one module per command group, named after it.

``albca.cli.app.COMMANDS`` says which module holds which command; a module is imported
only when its command runs. Each imports its heavy libraries inside its functions.
"""

__all__: list[str] = []
