"""HDX / ACLED: the CKAN scraper (plain Python), CSV ingestion into curated conflict tables (Spark)."""
