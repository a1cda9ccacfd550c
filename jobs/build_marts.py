"""spark-submit entry point: same as `crisislake build-marts`."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["build-marts", *sys.argv[1:]]))
