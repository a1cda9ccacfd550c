"""spark-submit entry point: same as `crisislake evaluate`."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
