-- The roll-up queries the fleet dashboard reads, in the subset ClickHouse 18.16 and 26.x both
-- accept (the tests run each on both and compare). Each starts with a `-- name:` line. They
-- return raw counts: the dashboard applies k-anonymity (k = 5) before anything is shown.

-- name: audience_by_screen_hour
SELECT
    screen_id,
    toString(hour) AS hour,
    sumMerge(minutes) AS minutes,
    sumMerge(impressions) AS impressions,
    sumMerge(watchers) AS watchers,
    round(sumMerge(dwell_ms), 3) AS dwell_ms,
    round(sumMerge(attention_ms), 3) AS attention_ms,
    sumForEachMerge(dwell_hist) AS dwell_hist,
    sumForEachMerge(attention_hist) AS attention_hist,
    sumForEachMerge(distance_hist) AS distance_hist,
    sumForEachMerge(group_size_hist) AS group_size_hist
FROM glance.audience_hourly
GROUP BY screen_id, hour
ORDER BY screen_id, hour;

-- name: audience_by_screen_day
SELECT
    screen_id,
    toString(day) AS day,
    sumMerge(impressions) AS impressions_total,
    sumMerge(watchers) AS watchers_total,
    round(sumMerge(dwell_ms), 3) AS dwell_total_ms,
    round(sumMerge(attention_ms), 3) AS attention_total_ms,
    round(attention_total_ms / dwell_total_ms, 6) AS attraction_ratio
FROM glance.audience_daily
GROUP BY screen_id, day
ORDER BY screen_id, day;

-- name: band_gender_by_screen_day
SELECT
    screen_id,
    toString(day) AS day,
    age_band,
    gender,
    sum(present) AS present,
    sum(watchers) AS watchers,
    round(sum(attention_ms), 3) AS attention_ms
FROM glance.audience_cells_daily
GROUP BY screen_id, day, age_band, gender
ORDER BY screen_id, day, age_band, gender;

-- name: plays_by_ad_day
SELECT
    ad_id,
    toString(day) AS day,
    sum(plays) AS plays,
    sum(completed_plays) AS completed_plays,
    round(sum(played_ms), 3) AS played_ms,
    sum(impressions) AS impressions,
    sum(watchers) AS watchers,
    round(sum(attention_ms), 3) AS attention_ms
FROM glance.plays_daily
GROUP BY ad_id, day
ORDER BY ad_id, day;

-- name: play_band_gender_by_ad
SELECT
    ad_id,
    age_band,
    gender,
    sum(present) AS present,
    sum(watchers) AS watchers
FROM glance.play_cells_daily
GROUP BY ad_id, age_band, gender
ORDER BY ad_id, age_band, gender;

-- name: latest_heartbeat_by_screen
SELECT
    screen_id,
    argMax(camera, time_ms) AS camera,
    argMax(backend, time_ms) AS backend,
    argMax(outbox_depth, time_ms) AS outbox_depth,
    max(time_ms) AS at_ms
FROM glance.records FINAL
WHERE kind = 'heartbeat'
GROUP BY screen_id
ORDER BY screen_id;

-- name: totals_from_records
SELECT
    toString(kind) AS kind,
    count() AS records,
    sum(impressions) AS impressions,
    sum(watchers) AS watchers,
    round(sum(attention_ms), 3) AS attention_ms
FROM glance.records FINAL
GROUP BY kind
ORDER BY kind;
