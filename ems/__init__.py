"""ems: the project's shared entry point (the `ems` command), configuration and base error."""
