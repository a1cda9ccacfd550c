-- crisislake warehouse, postgres DDL. Generated from lib/crisislake/warehouse/model.py:
-- do not edit; run `python -m crisislake.warehouse.model sql` to regenerate.

CREATE SCHEMA IF NOT EXISTS crisislake;

-- small, joined by every time-series query: a full copy per node
CREATE TABLE IF NOT EXISTS crisislake.dim_date (
    date_key    INTEGER NOT NULL,
    full_date   DATE NOT NULL,
    year        SMALLINT NOT NULL,
    quarter     SMALLINT NOT NULL,
    month       SMALLINT NOT NULL,
    day         SMALLINT NOT NULL,
    iso_week    SMALLINT NOT NULL,
    day_of_week SMALLINT NOT NULL,
    is_weekend  BOOLEAN NOT NULL,
    PRIMARY KEY (date_key)
);

-- thousands of rows at most (admin1 areas): a full copy per node
CREATE TABLE IF NOT EXISTS crisislake.dim_location (
    location_key VARCHAR(600) NOT NULL,
    country      VARCHAR(256),
    iso3         VARCHAR(3),
    admin1       VARCHAR(256),
    admin1_pcode VARCHAR(32),
    run_id       VARCHAR(64) NOT NULL,
    PRIMARY KEY (location_key)
);

-- eleven rows: a full copy per node
CREATE TABLE IF NOT EXISTS crisislake.dim_disaster_type (
    disaster_type VARCHAR(32) NOT NULL,
    category      VARCHAR(16) NOT NULL,
    description   VARCHAR(256) NOT NULL,
    run_id        VARCHAR(64) NOT NULL,
    PRIMARY KEY (disaster_type)
);

-- ACLED's ~25 event/sub-event types: a full copy per node
CREATE TABLE IF NOT EXISTS crisislake.dim_event_type (
    event_type     VARCHAR(128) NOT NULL,
    sub_event_type VARCHAR(128) NOT NULL,
    disorder_type  VARCHAR(128),
    run_id         VARCHAR(64) NOT NULL,
    PRIMARY KEY (event_type, sub_event_type)
);

-- the biggest table; distributed on its MERGE key, sorted for date-range filters
CREATE TABLE IF NOT EXISTS crisislake.fact_tweet (
    tweet_id                    BIGINT NOT NULL,
    created_at                  TIMESTAMPTZ NOT NULL,
    date_key                    INTEGER NOT NULL,
    lang                        VARCHAR(16),
    text                        VARCHAR(65535),
    author_pseudonym            VARCHAR(64),
    retweet_of_id               BIGINT,
    quote_of_id                 BIGINT,
    reply_to_id                 BIGINT,
    location_key                VARCHAR(600),
    place_country               VARCHAR(256),
    place_name                  VARCHAR(256),
    lat                         DECIMAL(9,6),
    lon                         DECIMAL(9,6),
    relevance                   VARCHAR(32),
    relevance_confidence        DECIMAL(6,5),
    disaster_type               VARCHAR(32),
    disaster_type_confidence    DECIMAL(6,5),
    police_force                VARCHAR(32),
    police_force_confidence     DECIMAL(6,5),
    force_rank                  VARCHAR(32),
    force_rank_confidence       DECIMAL(6,5),
    information_type            VARCHAR(32),
    information_type_confidence DECIMAL(6,5),
    needs_review                BOOLEAN NOT NULL,
    cluster_id                  BIGINT,
    is_canonical                BOOLEAN,
    incident_id                 VARCHAR(64),
    source_uri                  VARCHAR(1024) NOT NULL,
    source_line                 BIGINT,
    ingested_at                 TIMESTAMPTZ,
    run_id                      VARCHAR(64) NOT NULL,
    PRIMARY KEY (tweet_id)
);

-- distributed on its MERGE key (revisions touch scattered events), sorted by event date
CREATE TABLE IF NOT EXISTS crisislake.fact_conflict_event (
    event_id_cnty      VARCHAR(64) NOT NULL,
    event_date         DATE NOT NULL,
    date_key           INTEGER NOT NULL,
    year               SMALLINT,
    time_precision     SMALLINT,
    disorder_type      VARCHAR(128),
    event_type         VARCHAR(128),
    sub_event_type     VARCHAR(128),
    actor1             VARCHAR(512),
    assoc_actor_1      VARCHAR(1024),
    inter1             VARCHAR(64),
    actor2             VARCHAR(512),
    assoc_actor_2      VARCHAR(1024),
    inter2             VARCHAR(64),
    interaction        VARCHAR(128),
    civilian_targeting VARCHAR(64),
    iso                SMALLINT,
    region             VARCHAR(128),
    country            VARCHAR(256),
    admin1             VARCHAR(256),
    admin2             VARCHAR(256),
    admin3             VARCHAR(256),
    location           VARCHAR(512),
    location_key       VARCHAR(600),
    latitude           DECIMAL(9,6),
    longitude          DECIMAL(9,6),
    geo_precision      SMALLINT,
    source             VARCHAR(2048),
    source_scale       VARCHAR(256),
    notes              VARCHAR(65535),
    fatalities         INTEGER,
    tags               VARCHAR(1024),
    acled_timestamp    BIGINT,
    is_deleted         BOOLEAN NOT NULL,
    deleted_by_run     VARCHAR(64),
    source_uri         VARCHAR(1024) NOT NULL,
    source_line        BIGINT,
    run_id             VARCHAR(64) NOT NULL,
    PRIMARY KEY (event_id_cnty)
);

-- distributed on its MERGE key; sorted by first report
CREATE TABLE IF NOT EXISTS crisislake.fact_incident (
    incident_id         VARCHAR(64) NOT NULL,
    first_seen          TIMESTAMPTZ NOT NULL,
    last_seen           TIMESTAMPTZ NOT NULL,
    date_key            INTEGER NOT NULL,
    n_reports           BIGINT NOT NULL,
    representative_text VARCHAR(65535),
    place               VARCHAR(512),
    labels              VARCHAR(1024),
    run_id              VARCHAR(64) NOT NULL,
    PRIMARY KEY (incident_id)
);

-- one row per table per load; read by every load's exactly-once check
CREATE TABLE IF NOT EXISTS crisislake.load_audit (
    run_id       VARCHAR(64) NOT NULL,
    table_name   VARCHAR(128) NOT NULL,
    rows_loaded  BIGINT NOT NULL,
    files        INTEGER NOT NULL,
    bytes        BIGINT NOT NULL,
    manifest_url VARCHAR(1024) NOT NULL,
    backend      VARCHAR(16) NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, table_name)
);
