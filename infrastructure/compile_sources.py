"""The child `make package` compiles the zip's sources in: run by the packaging Python with
`-X no_debug_ranges` (no column positions: a quarter of a .pyc, and only the carets under a
traceback's line; file and line numbers stay). Reads a marshalled {name: source} from stdin and
writes {name: marshalled code object}, compiled as `python -OO` would (optimize=2: no
docstrings, no asserts). Imports nothing of the project: a script, run by its path."""

import marshal
import sys


def main() -> None:
    sources = marshal.load(sys.stdin.buffer)  # noqa: S302 - our own parent's sources
    compiled = {
        name: marshal.dumps(compile(text, name, "exec", dont_inherit=True, optimize=2))
        for name, text in sources.items()
    }
    sys.stdout.buffer.write(marshal.dumps(compiled))


if __name__ == "__main__":
    main()
