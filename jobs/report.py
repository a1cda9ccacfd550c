"""spark-submit entry point: same as `crisislake report`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
