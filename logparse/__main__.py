from logparse.cli import cli

cli()
