"""spark-submit entry point: same as `crisislake redshift-backup`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["redshift-backup", *sys.argv[1:]]))
