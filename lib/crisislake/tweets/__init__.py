"""Tweet ingestion: raw v1.1 / v2 / Firehose / gzip / CSV dumps into ``curated/tweets`` (Delta)."""
