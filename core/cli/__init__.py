"""The command line: one thin module per command, each parsing its arguments and calling the library.
`python -m core --help` lists them (core/__main__.py).

May import: anything in core; nothing in core imports it.
"""
