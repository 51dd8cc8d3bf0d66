"""`python -m symshape ...`: the same as the `symshape` command."""

from .cli import entry

if __name__ == "__main__":
    entry()
