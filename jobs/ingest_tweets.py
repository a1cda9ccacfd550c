"""spark-submit entry point: same as `crisislake ingest-tweets`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest-tweets", *sys.argv[1:]]))
