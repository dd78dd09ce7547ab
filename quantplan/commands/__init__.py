"""One module per `quantplan` subcommand, each with `add_parser(subparsers)` and `run(args)`."""
