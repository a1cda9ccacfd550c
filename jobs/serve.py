"""spark-submit entry point: same as `crisislake serve`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
