"""spark-submit entry point: same as `crisislake ingest-hdx`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest-hdx", *sys.argv[1:]]))
