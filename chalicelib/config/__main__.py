"""``python -m chalicelib.config check [DIR]`` and ``... push FILE [FILE...]``: see ``push.py``."""

from chalicelib.config.push import main

if __name__ == "__main__":
    raise SystemExit(main())
