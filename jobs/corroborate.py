"""spark-submit entry point: same as `crisislake corroborate`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["corroborate", *sys.argv[1:]]))
