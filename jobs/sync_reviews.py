"""spark-submit entry point: same as `crisislake sync-reviews`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["sync-reviews", *sys.argv[1:]]))
