"""Every console script: command lines in, exit statuses out. Nothing imports this package."""
