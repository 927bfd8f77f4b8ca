"""Subcommand modules: HELP, add_arguments(parser, name) and run(args) -> int."""
