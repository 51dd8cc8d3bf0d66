"""Commands of the `symshape` CLI that live in modules of their own, one module a command.

Each module has NAME, HELP (and optionally DESCRIPTION, EPILOG, ORDER), ``add_arguments(parser)`` and
``run(args, out) -> int`` (the exit status); it imports its heavy parts inside ``run`` so that ``symshape --help``
stays fast. :mod:`symshape.cli` finds them by name; helpers shared by commands are in :mod:`symshape.cli`.
"""
