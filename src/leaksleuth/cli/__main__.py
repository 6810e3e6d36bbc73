from leaksleuth.cli import entry

entry()
