"""The ``symprop`` command line: one module per subcommand."""
