-- crisislake warehouse, redshift DDL. Generated from lib/crisislake/warehouse/model.py:
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
)
DISTSTYLE ALL
COMPOUND SORTKEY (date_key)
ENCODE AUTO;
COMMENT ON TABLE crisislake.dim_date IS 'small, joined by every time-series query: a full copy per node';
COMMENT ON COLUMN crisislake.dim_date.date_key IS 'yyyymmdd';
COMMENT ON COLUMN crisislake.dim_date.day_of_week IS '1 = Monday';

-- thousands of rows at most (admin1 areas): a full copy per node
CREATE TABLE IF NOT EXISTS crisislake.dim_location (
    location_key VARCHAR(600) NOT NULL,
    country      VARCHAR(256),
    iso3         VARCHAR(3),
    admin1       VARCHAR(256),
    admin1_pcode VARCHAR(32),
    run_id       VARCHAR(64) NOT NULL,
    PRIMARY KEY (location_key)
)
DISTSTYLE ALL
COMPOUND SORTKEY (location_key)
ENCODE AUTO;
COMMENT ON TABLE crisislake.dim_location IS 'thousands of rows at most (admin1 areas): a full copy per node';
COMMENT ON COLUMN crisislake.dim_location.location_key IS 'lower(country)|lower(admin1)';

-- eleven rows: a full copy per node
CREATE TABLE IF NOT EXISTS crisislake.dim_disaster_type (
    disaster_type VARCHAR(32) NOT NULL,
    category      VARCHAR(16) NOT NULL,
    description   VARCHAR(256) NOT NULL,
    run_id        VARCHAR(64) NOT NULL,
    PRIMARY KEY (disaster_type)
)
DISTSTYLE ALL
COMPOUND SORTKEY (disaster_type)
ENCODE AUTO;
COMMENT ON TABLE crisislake.dim_disaster_type IS 'eleven rows: a full copy per node';
COMMENT ON COLUMN crisislake.dim_disaster_type.category IS 'natural | human-made | other';

-- ACLED's ~25 event/sub-event types: a full copy per node
CREATE TABLE IF NOT EXISTS crisislake.dim_event_type (
    event_type     VARCHAR(128) NOT NULL,
    sub_event_type VARCHAR(128) NOT NULL,
    disorder_type  VARCHAR(128),
    run_id         VARCHAR(64) NOT NULL,
    PRIMARY KEY (event_type, sub_event_type)
)
DISTSTYLE ALL
COMPOUND SORTKEY (event_type, sub_event_type)
ENCODE AUTO;
COMMENT ON TABLE crisislake.dim_event_type IS 'ACLED''s ~25 event/sub-event types: a full copy per node';

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
)
DISTSTYLE KEY
DISTKEY (tweet_id)
COMPOUND SORTKEY (created_at)
ENCODE AUTO;
COMMENT ON TABLE crisislake.fact_tweet IS 'the biggest table; distributed on its MERGE key, sorted for date-range filters';
COMMENT ON COLUMN crisislake.fact_tweet.created_at IS 'UTC';
COMMENT ON COLUMN crisislake.fact_tweet.text IS 'truncated to 65535 UTF-8 bytes';
COMMENT ON COLUMN crisislake.fact_tweet.author_pseudonym IS 'hex HMAC-SHA256 of author_id; NULL without a key';
COMMENT ON COLUMN crisislake.fact_tweet.needs_review IS 'a label of this tweet is in the review queue';
COMMENT ON COLUMN crisislake.fact_tweet.run_id IS 'the export run that last wrote the row';

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
)
DISTSTYLE KEY
DISTKEY (event_id_cnty)
COMPOUND SORTKEY (event_date)
ENCODE AUTO;
COMMENT ON TABLE crisislake.fact_conflict_event IS 'distributed on its MERGE key (revisions touch scattered events), sorted by event date';
COMMENT ON COLUMN crisislake.fact_conflict_event.iso IS 'ISO 3166 numeric code';
COMMENT ON COLUMN crisislake.fact_conflict_event.acled_timestamp IS 'ACLED''s own last-modified epoch seconds';

-- distributed on its MERGE key; sorted by first report
CREATE TABLE IF NOT EXISTS crisislake.fact_incident (
    incident_id           VARCHAR(64) NOT NULL,
    first_seen            TIMESTAMPTZ NOT NULL,
    last_seen             TIMESTAMPTZ NOT NULL,
    date_key              INTEGER NOT NULL,
    n_reports             BIGINT NOT NULL,
    representative_text   VARCHAR(65535),
    place                 VARCHAR(512),
    latitude              DECIMAL(9,6),
    longitude             DECIMAL(9,6),
    country_iso3          VARCHAR(3),
    admin1_name           VARCHAR(256),
    admin1_pcode          VARCHAR(32),
    admin2_name           VARCHAR(256),
    admin2_pcode          VARCHAR(32),
    place_confidence      DECIMAL(4,3),
    incident_type         VARCHAR(64),
    force_rank            SMALLINT,
    labels                VARCHAR(1024),
    corroborated          BOOLEAN NOT NULL,
    corroboration_score   DECIMAL(4,3),
    acled_event_ids       VARCHAR(4096),
    reported_incident_ids VARCHAR(4096),
    run_id                VARCHAR(64) NOT NULL,
    PRIMARY KEY (incident_id)
)
DISTSTYLE KEY
DISTKEY (incident_id)
COMPOUND SORTKEY (first_seen)
ENCODE AUTO;
COMMENT ON TABLE crisislake.fact_incident IS 'distributed on its MERGE key; sorted by first report';
COMMENT ON COLUMN crisislake.fact_incident.incident_id IS 'stable id';
COMMENT ON COLUMN crisislake.fact_incident.first_seen IS 'earliest report';
COMMENT ON COLUMN crisislake.fact_incident.last_seen IS 'latest report';
COMMENT ON COLUMN crisislake.fact_incident.date_key IS 'yyyymmdd of first_seen';
COMMENT ON COLUMN crisislake.fact_incident.n_reports IS 'tweets in the incident';
COMMENT ON COLUMN crisislake.fact_incident.representative_text IS 'the canonical report''s text (handles pseudonymised)';
COMMENT ON COLUMN crisislake.fact_incident.place IS 'display name, e.g. ''Minneapolis, Minnesota, USA''';
COMMENT ON COLUMN crisislake.fact_incident.latitude IS 'null when unknown';
COMMENT ON COLUMN crisislake.fact_incident.longitude IS 'null when unknown';
COMMENT ON COLUMN crisislake.fact_incident.place_confidence IS '0..1, null when no place';
COMMENT ON COLUMN crisislake.fact_incident.incident_type IS 'e.g. police_violence, flood, earthquake';
COMMENT ON COLUMN crisislake.fact_incident.force_rank IS '0..5, max over reports; null if none';
COMMENT ON COLUMN crisislake.fact_incident.labels IS 'comma-separated, sorted';
COMMENT ON COLUMN crisislake.fact_incident.corroborated IS 'at least one independent record matches';
COMMENT ON COLUMN crisislake.fact_incident.corroboration_score IS '0..1, null when nothing matched';
COMMENT ON COLUMN crisislake.fact_incident.acled_event_ids IS 'comma-separated ACLED event_id_cnty';
COMMENT ON COLUMN crisislake.fact_incident.reported_incident_ids IS 'comma-separated curated/reported_incidents ids';

-- the evidence of each incident; co-located with fact_incident on incident_id
CREATE TABLE IF NOT EXISTS crisislake.bridge_incident_tweet (
    incident_id      VARCHAR(64) NOT NULL,
    tweet_id         BIGINT NOT NULL,
    tweet_url        VARCHAR(256) NOT NULL,
    author_pseudonym VARCHAR(64),
    created_at       TIMESTAMPTZ,
    is_canonical     BOOLEAN NOT NULL,
    run_id           VARCHAR(64) NOT NULL,
    PRIMARY KEY (incident_id, tweet_id)
)
DISTSTYLE KEY
DISTKEY (incident_id)
COMPOUND SORTKEY (incident_id)
ENCODE AUTO;
COMMENT ON TABLE crisislake.bridge_incident_tweet IS 'the evidence of each incident; co-located with fact_incident on incident_id';
COMMENT ON COLUMN crisislake.bridge_incident_tweet.tweet_id IS 'joins fact_tweet';
COMMENT ON COLUMN crisislake.bridge_incident_tweet.tweet_url IS 'https://twitter.com/i/web/status/<tweet_id> (no handle)';

-- what confirms each incident; co-located with fact_incident on incident_id
CREATE TABLE IF NOT EXISTS crisislake.bridge_incident_corroboration (
    incident_id VARCHAR(64) NOT NULL,
    source      VARCHAR(32) NOT NULL,
    source_id   VARCHAR(128) NOT NULL,
    score       DECIMAL(4,3) NOT NULL,
    event_date  DATE,
    description VARCHAR(65535),
    url         VARCHAR(2048),
    run_id      VARCHAR(64) NOT NULL,
    PRIMARY KEY (incident_id, source, source_id)
)
DISTSTYLE KEY
DISTKEY (incident_id)
COMPOUND SORTKEY (incident_id)
ENCODE AUTO;
COMMENT ON TABLE crisislake.bridge_incident_corroboration IS 'what confirms each incident; co-located with fact_incident on incident_id';
COMMENT ON COLUMN crisislake.bridge_incident_corroboration.source IS 'acled | reported_incidents';
COMMENT ON COLUMN crisislake.bridge_incident_corroboration.source_id IS 'event_id_cnty or the reported incident''s id';
COMMENT ON COLUMN crisislake.bridge_incident_corroboration.url IS 'first evidence/source link, when the source has one';

-- enriched/review_queue: predictions below the review threshold; read most uncertain first
CREATE TABLE IF NOT EXISTS crisislake.review_queue (
    tweet_id      BIGINT NOT NULL,
    task          VARCHAR(32) NOT NULL,
    label         VARCHAR(32),
    confidence    DECIMAL(6,5),
    threshold     DECIMAL(6,5),
    reason        VARCHAR(256),
    model_version VARCHAR(64) NOT NULL,
    run_id        VARCHAR(64) NOT NULL,
    PRIMARY KEY (tweet_id, task, model_version)
)
DISTSTYLE KEY
DISTKEY (tweet_id)
COMPOUND SORTKEY (confidence)
ENCODE AUTO;
COMMENT ON TABLE crisislake.review_queue IS 'enriched/review_queue: predictions below the review threshold; read most uncertain first';
COMMENT ON COLUMN crisislake.review_queue.label IS 'the model''s label awaiting review';
COMMENT ON COLUMN crisislake.review_queue.threshold IS 'the task''s review threshold';

-- append-only reviewer decisions, written by `crisislake serve`; copied to enriched/review_decisions
CREATE TABLE IF NOT EXISTS crisislake.review_decisions (
    decision_id   VARCHAR(64) NOT NULL,
    tweet_id      BIGINT NOT NULL,
    task          VARCHAR(32) NOT NULL,
    decision      VARCHAR(16) NOT NULL,
    label         VARCHAR(32),
    model_label   VARCHAR(32),
    model_version VARCHAR(64),
    reviewer      VARCHAR(64) NOT NULL,
    decided_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (decision_id)
)
DISTSTYLE KEY
DISTKEY (tweet_id)
COMPOUND SORTKEY (decided_at)
ENCODE AUTO;
COMMENT ON TABLE crisislake.review_decisions IS 'append-only reviewer decisions, written by `crisislake serve`; copied to enriched/review_decisions';
COMMENT ON COLUMN crisislake.review_decisions.decision_id IS 'hex SHA-256 of reviewer, tweet, task, decision, label, previous decision';
COMMENT ON COLUMN crisislake.review_decisions.decision IS 'confirm | reject | relabel';
COMMENT ON COLUMN crisislake.review_decisions.label IS 'confirm/reject: the model''s label judged; relabel: the correct label';
COMMENT ON COLUMN crisislake.review_decisions.model_label IS 'the model''s label when the decision was made';
COMMENT ON COLUMN crisislake.review_decisions.decided_at IS 'UTC';

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
)
DISTSTYLE ALL
COMPOUND SORTKEY (run_id)
ENCODE AUTO;
COMMENT ON TABLE crisislake.load_audit IS 'one row per table per load; read by every load''s exactly-once check';
