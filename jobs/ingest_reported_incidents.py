"""spark-submit entry point: same as `crisislake ingest-reported-incidents`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest-reported-incidents", *sys.argv[1:]]))
