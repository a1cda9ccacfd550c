"""``crisislake report``: one self-contained, offline HTML file with charts and a map."""
