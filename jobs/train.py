"""spark-submit entry point: same as `crisislake train`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
