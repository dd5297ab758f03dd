//! The fleet's load benchmark (a benchmark, not a test): simulated screens send a day of minute
//! records, plays and heartbeats through the ingest service (in this process) into a real
//! ClickHouse 18.16 server on this machine, in the batches a kiosk's outbox sends after being
//! offline (at most 500 records). Prints the rows per second sustained, ClickHouse's disk per
//! screen-day, and the times of the dashboard's fleet reads over that data.
//!
//! ```sh
//! cargo bench -p glance-ingest --bench load                       # 10,000 screens x 24 h
//! SCREENS=1000 HOURS=2 cargo bench -p glance-ingest --bench load  # a quick look
//! ```
//!
//! Knobs (environment): SCREENS (10000), HOURS (24), PLAYS_PER_MINUTE (2), BATCH (500),
//! CONCURRENCY (16 requests in flight).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use glance::fleet::{
    AudienceCell, AudienceMinute, CameraState, CellGender, HealthBackend, Heartbeat, ProofOfPlay,
    RECORD_SCHEMA_VERSION, Record, ScreenHealth,
};
use support::{ClickHouseServer, Service};

const READER: &str = "token-of-the-load-dashboard";
const MINUTE: i64 = 60_000;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn screen_id(i: usize) -> String {
    format!("screen-{i:05}")
}

fn token(i: usize) -> String {
    format!("load-token-{i:05}")
}

/// Ten venues and one tag in ten, so the dashboard's questions pick 1,000 screens.
fn config(clickhouse_url: &str, screens: usize) -> String {
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\nmax_body_bytes = 4194304\n\
         [clickhouse]\nurl = \"{clickhouse_url}\"\nuser = \"glance_ingest\"\n\
         password = \"ingest-dev-password\"\nreader_password = \"reader-dev-password\"\n\
         timeout_ms = 60000\n"
    );
    for i in 0..screens {
        text.push_str(&format!(
            "[[screens]]\nid = \"{}\"\ntoken_sha256 = \"{}\"\nvenue = \"venue {}\"\ntags = [\"group-{}\"]\n",
            screen_id(i),
            glance_ingest::hash_token(&token(i)),
            i % 10,
            i % 10
        ));
    }
    text.push_str(&format!(
        "[[readers]]\nname = \"load\"\ntoken_sha256 = \"{}\"\n",
        glance_ingest::hash_token(READER)
    ));
    text
}

fn cell(band: &str, gender: CellGender, present: u32) -> AudienceCell {
    AudienceCell {
        age_band: band.into(),
        gender,
        present,
        watchers: present / 2,
        dwell_ms: f64::from(present) * 8_000.0,
        attention_ms: f64::from(present) * 2_000.0,
    }
}

/// A screen's records of one minute: the minute, its plays, a heartbeat. Numbers vary with the
/// screen and the minute, as a day's audience does.
fn minute_records(t0: i64, screen: usize, minute: i64, plays_per_minute: usize) -> Vec<Record> {
    let id = screen_id(screen);
    let start = t0 + minute * MINUTE;
    let people = ((screen as i64 * 7 + minute * 13) % 9) as u32;
    let cells = vec![
        cell("25-34", CellGender::Female, people / 3),
        cell("35-44", CellGender::Male, people / 3),
        cell("unknown", CellGender::Unknown, people - 2 * (people / 3)),
    ];
    // The totals are the cells' sums, as the service checks.
    let people: u32 = cells.iter().map(|c| c.present).sum();
    let watchers: u32 = cells.iter().map(|c| c.watchers).sum();
    let dwell_ms: f64 = cells.iter().map(|c| c.dwell_ms).sum();
    let attention_ms: f64 = cells.iter().map(|c| c.attention_ms).sum();
    let mut records = vec![Record::AudienceMinute(AudienceMinute {
        schema_version: RECORD_SCHEMA_VERSION,
        id: AudienceMinute::record_id(&id, start),
        screen_id: id.clone(),
        start_ms: start,
        utc_offset_minutes: 60,
        impressions: people,
        watchers,
        dwell_ms,
        attention_ms,
        attention_from_eyes_ms: attention_ms * 0.75,
        attention_from_head_pose_ms: attention_ms * 0.25,
        dwell_hist: [people, 0, 0, 0, 0],
        attention_hist: [watchers, 0, 0, 0, 0],
        distance_sum_m: f64::from(people) * 2.5,
        distance_count: people,
        distance_hist: [0, people, 0, 0, 0],
        group_size_sum: u64::from(people),
        group_size_hist: [people, 0, 0, 0],
        cells: cells.clone(),
    })];
    let slot = MINUTE / plays_per_minute.max(1) as i64;
    for p in 0..plays_per_minute as i64 {
        let play_id = format!("{}", minute * plays_per_minute as i64 + p);
        let play_start = start + p * slot;
        records.push(Record::Play(ProofOfPlay {
            schema_version: RECORD_SCHEMA_VERSION,
            id: ProofOfPlay::record_id(&id, &play_id),
            screen_id: id.clone(),
            play_id,
            ad_id: format!("{}", 5000 + (minute + p) % 12),
            start_ms: play_start,
            end_ms: play_start + slot - 500,
            utc_offset_minutes: 60,
            completed: true,
            impressions: people,
            watchers,
            attention_ms,
            cells: cells.clone(),
        }));
    }
    records.push(Record::Heartbeat(Heartbeat::new(
        &id,
        start + 30_000,
        ScreenHealth {
            camera: CameraState::Live,
            analysed_fps: 7.5,
            backend: HealthBackend::Cpu,
            outbox_depth: 0,
            outbox_dropped: 0,
            last_ack_ms: Some(start),
            rules: None,
        },
    )));
    records
}

/// One screen's day as the batches its outbox sends (NDJSON bodies of at most `batch` records).
fn batches(day: &Day, screen: usize) -> Vec<String> {
    let records: Vec<Record> = (0..day.hours as i64 * 60)
        .flat_map(|m| minute_records(day.t0, screen, m, day.plays_per_minute))
        .collect();
    records
        .chunks(day.batch)
        .map(|chunk| chunk.iter().map(|r| r.to_line() + "\n").collect())
        .collect()
}

/// What every simulated screen sends.
#[derive(Debug, Clone, Copy)]
struct Day {
    /// The first minute, ms: whole hours ending at the current hour, so the screens' health
    /// (their heartbeats of the last week) is read too.
    t0: i64,
    hours: usize,
    plays_per_minute: usize,
    batch: usize,
}

/// Sends every screen's batches with `concurrency` requests in flight; retries what the
/// service asks to (503), as a kiosk would. Returns (records sent, retries).
fn send_all(url: &str, screens: usize, day: Day, concurrency: usize) -> (u64, u64) {
    let Day {
        hours,
        plays_per_minute,
        ..
    } = day;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let start = Instant::now();
    let per_screen = (hours * 60 * (2 + plays_per_minute)) as u64;
    let total = per_screen * screens as u64;
    runtime.block_on(async {
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (client, url) = (client.clone(), url.to_string());
            let (sent, retries, next) = (sent.clone(), retries.clone(), next.clone());
            workers.spawn(async move {
                loop {
                    let screen = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if screen >= screens {
                        return;
                    }
                    for body in batches(&day, screen) {
                        let lines = body.lines().count() as u64;
                        loop {
                            let response = client
                                .post(&url)
                                .header("Authorization", format!("Bearer {}", token(screen)))
                                .header("Content-Type", "application/x-ndjson")
                                .body(body.clone())
                                .send()
                                .await;
                            match response {
                                Ok(r) if r.status().as_u16() == 200 => break,
                                Ok(r) if r.status().as_u16() != 503 => {
                                    let status = r.status();
                                    panic!(
                                        "the service refused a batch: {status} {}",
                                        r.text().await.unwrap_or_default()
                                    )
                                }
                                _ => {
                                    retries.fetch_add(1, Ordering::Relaxed);
                                    tokio::time::sleep(Duration::from_millis(500)).await;
                                }
                            }
                        }
                        let done = sent.fetch_add(lines, Ordering::Relaxed) + lines;
                        let step = total / 20;
                        if step > 0 && (done - lines) / step != done / step {
                            let s = start.elapsed().as_secs_f64();
                            eprintln!(
                                "  {:>3.0} %: {done} records in {s:.0} s, {:.0} records/s",
                                done as f64 / total as f64 * 100.0,
                                done as f64 / s
                            );
                        }
                    }
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            done.unwrap();
        }
    });
    (
        sent.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed),
    )
}

/// Median of three timed GETs of a read path, ms, and the size of its answer; or why it failed
/// (a read over the service's ClickHouse timeout is a finding, not a crash).
fn time_read(base: &str, path: &str) -> Result<(f64, usize), String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let response = client
            .get(format!("{base}{path}"))
            .header("Authorization", format!("Bearer {READER}"))
            .send()
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().map_err(|e| e.to_string())?;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        if !status.is_success() {
            return Err(format!(
                "{status} after {ms:.0} ms: {}",
                &text[..text.len().min(300)]
            ));
        }
        times.push(ms);
        size = text.len();
    }
    times.sort_by(f64::total_cmp);
    Ok((times[1], size))
}

fn main() {
    let screens = knob("SCREENS", 10_000);
    let hours = knob("HOURS", 24);
    let plays_per_minute = knob("PLAYS_PER_MINUTE", 2);
    let batch = knob("BATCH", 500);
    let concurrency = knob("CONCURRENCY", 16);
    println!(
        "fleet load: {screens} screens x {hours} h, {plays_per_minute} plays a minute, batches of {batch}, {concurrency} in flight"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day = Day {
        t0: now_ms.div_euclid(3_600_000) * 3_600_000 - hours as i64 * 3_600_000,
        hours,
        plays_per_minute,
        batch,
    };
    let clickhouse = ClickHouseServer::start();
    let service = Service::start(&config(&clickhouse.url(), screens));
    let base = service.url.replace("/v1/records", "");

    let start = Instant::now();
    let (sent, retries) = send_all(&service.url, screens, day, concurrency);
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "ingest: {sent} records in {seconds:.1} s = {:.0} records/s sustained ({retries} retried batches)",
        sent as f64 / seconds
    );

    measure_disk(&clickhouse, sent, screen_days(screens, hours));
    let (from, to) = (day.t0, day.t0 + hours as i64 * 3_600_000);
    time_dashboard_reads(&base, from, to);
    time_report_queries(&clickhouse, screens, (from, to), now_ms);
}

fn screen_days(screens: usize, hours: usize) -> f64 {
    screens as f64 * hours as f64 / 24.0
}

/// Merges every table (records deduplicated, roll-ups summed), then prints the rows stored and
/// the disk each table takes per screen-day.
fn measure_disk(clickhouse: &ClickHouseServer, sent: u64, screen_days: f64) {
    // Let ClickHouse finish its merges (records deduplicated, roll-ups summed) before measuring
    // the disk.
    let merging = Instant::now();
    for row in clickhouse.query(
        "SELECT name FROM system.tables WHERE database = 'glance' AND engine LIKE '%MergeTree'",
    ) {
        clickhouse.query(&format!(
            "OPTIMIZE TABLE glance.{} FINAL",
            row["name"].as_str().unwrap()
        ));
    }
    println!(
        "merged every table in {:.1} s",
        merging.elapsed().as_secs_f64()
    );
    let stored = clickhouse.count("FROM glance.records");
    println!(
        "stored: {stored} rows of {sent} sent (each once: {})",
        stored == sent
    );
    println!("disk (active parts, compressed), per screen-day over {screen_days} screen-days:");
    let mut total_bytes = 0.0;
    for row in clickhouse.query(
        "SELECT table, toUInt64(sum(bytes)) AS bytes, toUInt64(sum(rows)) AS rows \
         FROM system.parts WHERE database = 'glance' AND active GROUP BY table ORDER BY table",
    ) {
        let bytes = row["bytes"].as_f64().unwrap();
        total_bytes += bytes;
        println!(
            "  {:<24} {:>12.0} rows {:>10.1} MB  {:>8.1} KB per screen-day",
            row["table"].as_str().unwrap(),
            row["rows"].as_f64().unwrap(),
            bytes / 1e6,
            bytes / 1e3 / screen_days
        );
    }
    println!(
        "  {:<24} {:>23.1} MB  {:>8.1} KB per screen-day",
        "all",
        total_bytes / 1e6,
        total_bytes / 1e3 / screen_days
    );
}

/// The dashboard's reads over the period, each the median of 3.
fn time_dashboard_reads(base: &str, from: i64, to: i64) {
    let period = format!("fromMs={from}&toMs={to}");
    println!("the dashboard's reads over it (median of 3):");
    for (what, path) in [
        (
            "report, every screen, by hour",
            format!("/v1/fleet/report?{period}"),
        ),
        (
            "report, every screen, by day",
            format!("/v1/fleet/report?{period}&granularity=day"),
        ),
        (
            "report, one tag (1 in 10), by hour",
            format!("/v1/fleet/report?{period}&tag=group-3"),
        ),
        (
            "report, one screen, by hour",
            format!("/v1/fleet/report?{period}&screens={}", screen_id(42)),
        ),
        ("screens with health", "/v1/fleet/screens".to_string()),
        (
            "export csv, one screen's plays",
            format!(
                "/v1/fleet/export?format=csv&{period}&screens={}",
                screen_id(42)
            ),
        ),
    ] {
        match time_read(base, &path) {
            Ok((ms, size)) => {
                println!("  {what:<36} {ms:>9.1} ms  ({:.1} KB)", size as f64 / 1e3)
            }
            Err(why) => println!("  {what:<36} failed: {why}"),
        }
    }
}

/// Where a fleet-wide read's time goes: each query of the every-screen report by hour, and the
/// health query, run alone.
fn time_report_queries(
    clickhouse: &ClickHouseServer,
    screens: usize,
    (from, to): (i64, i64),
    now_ms: i64,
) {
    let ids: Vec<String> = (0..screens).map(screen_id).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let queries = glance_ingest::read::ReportQueries::new(
        "glance",
        &ids,
        (from, to),
        glance::audience::Granularity::Hour,
        glance_ingest::read::MAX_LISTED_PLAYS,
    );
    let health = glance_ingest::read::health_query(
        "glance",
        &ids,
        now_ms - glance_ingest::read::HEALTH_WINDOW_MS,
    );
    println!("the every-screen report's queries, and the health query, alone:");
    for (name, sql) in queries
        .named()
        .into_iter()
        .chain([("health", health.as_str())])
    {
        let start = Instant::now();
        let rows = clickhouse.query(sql).len();
        println!(
            "  {name:<10} {:>9.1} ms  ({rows} rows)",
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
}
