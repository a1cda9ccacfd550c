"""The warehouse: a star schema declared once (:mod:`.model`), Parquet exports with COPY manifests
(:mod:`.export_job`), exactly-once loads into Redshift or PostgreSQL (:mod:`.load_job`) and
Redshift snapshots (:mod:`.backup_job`)."""
