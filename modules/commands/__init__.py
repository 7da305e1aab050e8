"""The command line's subcommands, one module each exposing `add_arguments(parser)` and `main(args)`."""
