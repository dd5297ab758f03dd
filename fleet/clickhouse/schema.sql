-- Glance's fleet store. Written in the subset that ClickHouse 18.16 (Debian) and current
-- servers (26.x) both accept: DateTime plus a millisecond column (no DateTime64), day
-- partitions with a retention command (no TTL), settings in the URL (no INSERT ... SETTINGS).
-- Statements are separated by a line ending in ';' (the test runner and `glance-ingest
-- --init-db` split on it). See docs/fleet.md.

CREATE DATABASE IF NOT EXISTS glance;

-- Every record as it arrived, one row each, deduplicated on its id (kind, screen and key): a
-- record sent twice is stored once. Read with FINAL (or argMax) for exact figures; the ingest
-- service also refuses to insert an id it already holds, so the roll-ups below see each record
-- once. Columns a kind does not use hold their defaults.
CREATE TABLE IF NOT EXISTS glance.records
(
    kind Enum8('audienceMinute' = 1, 'play' = 2, 'heartbeat' = 3),
    id String,
    screen_id String,
    schema_version UInt16,
    -- the minute's start, the play's start, the heartbeat's time (UTC), and the same in ms
    time DateTime('UTC'),
    time_ms Int64,
    received DateTime('UTC'),
    utc_offset_minutes Int16,
    impressions UInt32,
    watchers UInt32,
    dwell_ms Float64,
    attention_ms Float64,
    attention_from_eyes_ms Float64,
    attention_from_head_pose_ms Float64,
    dwell_hist Array(UInt32),
    attention_hist Array(UInt32),
    distance_sum_m Float64,
    distance_count UInt32,
    distance_hist Array(UInt32),
    group_size_sum UInt64,
    group_size_hist Array(UInt32),
    cells Nested(
        age_band String,
        gender String,
        present UInt32,
        watchers UInt32,
        dwell_ms Float64,
        attention_ms Float64
    ),
    play_id String,
    ad_id String,
    end_ms Int64,
    completed UInt8,
    camera String,
    analysed_fps Float64,
    backend String,
    outbox_depth UInt32,
    outbox_dropped UInt64,
    last_ack_ms Int64,
    engine_version String,
    rules_source String,
    rules_etag String,
    rules_problem String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(time)
ORDER BY (screen_id, kind, id);

-- Rules documents published to screens (`screen:<id>`), a tag's screens (`tag:<tag>`) or the
-- whole fleet (`fleet`), kept as history: a target's rules are its newest document.
CREATE TABLE IF NOT EXISTS glance.rules_published
(
    target String,
    published DateTime('UTC'),
    published_ms Int64,
    etag String,
    document String,
    publisher String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(published)
ORDER BY (target, published_ms);

-- Audience per screen per hour (UTC) and per local day: sums and the four distributions.
CREATE TABLE IF NOT EXISTS glance.audience_hourly
(
    screen_id String,
    hour DateTime('UTC'),
    minutes AggregateFunction(sum, UInt64),
    impressions AggregateFunction(sum, UInt64),
    watchers AggregateFunction(sum, UInt64),
    dwell_ms AggregateFunction(sum, Float64),
    attention_ms AggregateFunction(sum, Float64),
    attention_from_eyes_ms AggregateFunction(sum, Float64),
    attention_from_head_pose_ms AggregateFunction(sum, Float64),
    distance_sum_m AggregateFunction(sum, Float64),
    distance_count AggregateFunction(sum, UInt64),
    group_size_sum AggregateFunction(sum, UInt64),
    dwell_hist AggregateFunction(sumForEach, Array(UInt64)),
    attention_hist AggregateFunction(sumForEach, Array(UInt64)),
    distance_hist AggregateFunction(sumForEach, Array(UInt64)),
    group_size_hist AggregateFunction(sumForEach, Array(UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(hour)
ORDER BY (screen_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS glance.audience_hourly_mv TO glance.audience_hourly AS
SELECT
    screen_id,
    toStartOfHour(time) AS hour,
    sumState(toUInt64(1)) AS minutes,
    sumState(toUInt64(impressions)) AS impressions,
    sumState(toUInt64(watchers)) AS watchers,
    sumState(dwell_ms) AS dwell_ms,
    sumState(attention_ms) AS attention_ms,
    sumState(attention_from_eyes_ms) AS attention_from_eyes_ms,
    sumState(attention_from_head_pose_ms) AS attention_from_head_pose_ms,
    sumState(distance_sum_m) AS distance_sum_m,
    sumState(toUInt64(distance_count)) AS distance_count,
    sumState(group_size_sum) AS group_size_sum,
    sumForEachState(arrayMap(x -> toUInt64(x), dwell_hist)) AS dwell_hist,
    sumForEachState(arrayMap(x -> toUInt64(x), attention_hist)) AS attention_hist,
    sumForEachState(arrayMap(x -> toUInt64(x), distance_hist)) AS distance_hist,
    sumForEachState(arrayMap(x -> toUInt64(x), group_size_hist)) AS group_size_hist
FROM glance.records
WHERE kind = 'audienceMinute'
GROUP BY screen_id, hour;

CREATE TABLE IF NOT EXISTS glance.audience_daily
(
    screen_id String,
    day Date,
    minutes AggregateFunction(sum, UInt64),
    impressions AggregateFunction(sum, UInt64),
    watchers AggregateFunction(sum, UInt64),
    dwell_ms AggregateFunction(sum, Float64),
    attention_ms AggregateFunction(sum, Float64),
    attention_from_eyes_ms AggregateFunction(sum, Float64),
    attention_from_head_pose_ms AggregateFunction(sum, Float64),
    distance_sum_m AggregateFunction(sum, Float64),
    distance_count AggregateFunction(sum, UInt64),
    group_size_sum AggregateFunction(sum, UInt64),
    dwell_hist AggregateFunction(sumForEach, Array(UInt64)),
    attention_hist AggregateFunction(sumForEach, Array(UInt64)),
    distance_hist AggregateFunction(sumForEach, Array(UInt64)),
    group_size_hist AggregateFunction(sumForEach, Array(UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (screen_id, day);

-- The screen's local day: its UTC offset travels in every minute record.
CREATE MATERIALIZED VIEW IF NOT EXISTS glance.audience_daily_mv TO glance.audience_daily AS
SELECT
    screen_id,
    toDate(time + utc_offset_minutes * 60) AS day,
    sumState(toUInt64(1)) AS minutes,
    sumState(toUInt64(impressions)) AS impressions,
    sumState(toUInt64(watchers)) AS watchers,
    sumState(dwell_ms) AS dwell_ms,
    sumState(attention_ms) AS attention_ms,
    sumState(attention_from_eyes_ms) AS attention_from_eyes_ms,
    sumState(attention_from_head_pose_ms) AS attention_from_head_pose_ms,
    sumState(distance_sum_m) AS distance_sum_m,
    sumState(toUInt64(distance_count)) AS distance_count,
    sumState(group_size_sum) AS group_size_sum,
    sumForEachState(arrayMap(x -> toUInt64(x), dwell_hist)) AS dwell_hist,
    sumForEachState(arrayMap(x -> toUInt64(x), attention_hist)) AS attention_hist,
    sumForEachState(arrayMap(x -> toUInt64(x), distance_hist)) AS distance_hist,
    sumForEachState(arrayMap(x -> toUInt64(x), group_size_hist)) AS group_size_hist
FROM glance.records
WHERE kind = 'audienceMinute'
GROUP BY screen_id, day;

-- People by age band and gender ('unknown' is a category of its own), per hour and local day.
CREATE TABLE IF NOT EXISTS glance.audience_cells_hourly
(
    screen_id String,
    hour DateTime('UTC'),
    age_band String,
    gender String,
    present UInt64,
    watchers UInt64,
    dwell_ms Float64,
    attention_ms Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(hour)
ORDER BY (screen_id, hour, age_band, gender);

CREATE MATERIALIZED VIEW IF NOT EXISTS glance.audience_cells_hourly_mv TO glance.audience_cells_hourly AS
SELECT
    screen_id,
    toStartOfHour(time) AS hour,
    cells.age_band AS age_band,
    cells.gender AS gender,
    toUInt64(cells.present) AS present,
    toUInt64(cells.watchers) AS watchers,
    cells.dwell_ms AS dwell_ms,
    cells.attention_ms AS attention_ms
FROM glance.records
ARRAY JOIN cells
WHERE kind = 'audienceMinute';

CREATE TABLE IF NOT EXISTS glance.audience_cells_daily
(
    screen_id String,
    day Date,
    age_band String,
    gender String,
    present UInt64,
    watchers UInt64,
    dwell_ms Float64,
    attention_ms Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (screen_id, day, age_band, gender);

CREATE MATERIALIZED VIEW IF NOT EXISTS glance.audience_cells_daily_mv TO glance.audience_cells_daily AS
SELECT
    screen_id,
    toDate(time + utc_offset_minutes * 60) AS day,
    cells.age_band AS age_band,
    cells.gender AS gender,
    toUInt64(cells.present) AS present,
    toUInt64(cells.watchers) AS watchers,
    cells.dwell_ms AS dwell_ms,
    cells.attention_ms AS attention_ms
FROM glance.records
ARRAY JOIN cells
WHERE kind = 'audienceMinute';

-- Proof of play per screen, ad and hour (of the play's start) and local day.
CREATE TABLE IF NOT EXISTS glance.plays_hourly
(
    screen_id String,
    ad_id String,
    hour DateTime('UTC'),
    plays UInt64,
    completed_plays UInt64,
    played_ms Float64,
    impressions UInt64,
    watchers UInt64,
    attention_ms Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(hour)
ORDER BY (screen_id, ad_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS glance.plays_hourly_mv TO glance.plays_hourly AS
SELECT
    screen_id,
    ad_id,
    toStartOfHour(time) AS hour,
    toUInt64(1) AS plays,
    toUInt64(completed) AS completed_plays,
    toFloat64(end_ms - time_ms) AS played_ms,
    toUInt64(impressions) AS impressions,
    toUInt64(watchers) AS watchers,
    attention_ms
FROM glance.records
WHERE kind = 'play';

CREATE TABLE IF NOT EXISTS glance.plays_daily
(
    screen_id String,
    ad_id String,
    day Date,
    plays UInt64,
    completed_plays UInt64,
    played_ms Float64,
    impressions UInt64,
    watchers UInt64,
    attention_ms Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (screen_id, ad_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS glance.plays_daily_mv TO glance.plays_daily AS
SELECT
    screen_id,
    ad_id,
    toDate(time + utc_offset_minutes * 60) AS day,
    toUInt64(1) AS plays,
    toUInt64(completed) AS completed_plays,
    toFloat64(end_ms - time_ms) AS played_ms,
    toUInt64(impressions) AS impressions,
    toUInt64(watchers) AS watchers,
    attention_ms
FROM glance.records
WHERE kind = 'play';

-- The audience of each ad by age band and gender, per local day.
CREATE TABLE IF NOT EXISTS glance.play_cells_daily
(
    screen_id String,
    ad_id String,
    day Date,
    age_band String,
    gender String,
    present UInt64,
    watchers UInt64,
    attention_ms Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (screen_id, ad_id, day, age_band, gender);

CREATE MATERIALIZED VIEW IF NOT EXISTS glance.play_cells_daily_mv TO glance.play_cells_daily AS
SELECT
    screen_id,
    ad_id,
    toDate(time + utc_offset_minutes * 60) AS day,
    cells.age_band AS age_band,
    cells.gender AS gender,
    toUInt64(cells.present) AS present,
    toUInt64(cells.watchers) AS watchers,
    cells.attention_ms AS attention_ms
FROM glance.records
ARRAY JOIN cells
WHERE kind = 'play';
