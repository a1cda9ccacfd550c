"""spark-submit entry point: same as `crisislake export`."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
