"""spark-submit entry point: same as `crisislake load`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["load", *sys.argv[1:]]))
