"""The ``labctl`` subcommands, one module per command group."""
