"""spark-submit entry point: same as `crisislake classify`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["classify", *sys.argv[1:]]))
