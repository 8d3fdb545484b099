"""Start the Studio web app: `python launch.py [--host H] [--port P] [--share]` (also the Hugging Face Space entry)."""

import sys

from studio.cli import main

if __name__ == "__main__":
    sys.exit(main(["ui", *sys.argv[1:]]))
