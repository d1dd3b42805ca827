"""The `orchestrate` subcommands, one module each; each module defines a click command named `command`."""
