"""The user interface: the `convoy` command. Nothing else imports this package."""
