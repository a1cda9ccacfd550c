"""spark-submit entry point: same as `crisislake emr`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["emr", *sys.argv[1:]]))
