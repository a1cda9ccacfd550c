"""Near-duplicate detection (MinHash/LSH + exact Jaccard + connected components) and incidents."""
