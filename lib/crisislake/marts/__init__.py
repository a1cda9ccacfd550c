"""Analyst marts: Parquet tables partitioned by year, rebuilt from curated/enriched on each run."""
