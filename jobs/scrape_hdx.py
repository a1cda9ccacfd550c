"""spark-submit entry point: same as `crisislake scrape-hdx`. Generated from crisislake.registry."""
import sys

from crisislake.cli import main

if __name__ == "__main__":
    sys.exit(main(["scrape-hdx", *sys.argv[1:]]))
