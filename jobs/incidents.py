"""spark-submit entry point: same as `crisislake incidents`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["incidents", *sys.argv[1:]]))
