"""spark-submit entry point: same as `crisislake build-marts`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["build-marts", *sys.argv[1:]]))
