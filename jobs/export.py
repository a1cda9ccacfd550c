"""spark-submit entry point: same as `crisislake export`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
