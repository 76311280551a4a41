"""One module per `extid` subcommand: `add_arguments(parser)` and `run(args) -> int`."""
