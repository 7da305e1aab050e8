"""The `higgsml` subcommands, one module each: argument parsing and a thin `main`; no library module imports them."""
