"""One module per `extid` subcommand: `add_arguments(parser)` and a typed `run(...) -> int`."""
