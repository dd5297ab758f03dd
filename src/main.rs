//! The `glance` command line (native only).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    use clap::{Parser, Subcommand};
    use glance::GlanceError;
    use glance::analysis::FrameAnalysis;
    use glance::audience::{AudienceConfig, ReportOptions};
    use glance::engine::{BackendSetup, Engine, EngineOptions};
    use glance::fleet::push::Pusher;
    use glance::fleet::{CameraState, HealthBackend, Heartbeat, Record, ScreenHealth};
    use glance::media::{Y4mReader, is_y4m, load_image};
    use glance::vision::{Pipeline, PipelineOptions, cpu_pipeline};
    use serde::Serialize;

    #[derive(Parser)]
    #[command(
        name = "glance",
        version,
        about = "On-device audience measurement for digital signage"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Find faces in JPEG/PNG images and .y4m videos; print one JSON object per image or
        /// video frame on stdout.
        Analyze {
            /// Pipeline options as a JSON file (camelCase fields of PipelineOptions).
            #[arg(long)]
            options: Option<PathBuf>,
            #[arg(required = true)]
            files: Vec<PathBuf>,
        },
        /// Measure the audience of a .y4m video: print the report (JSON) at its end.
        Audience {
            video: PathBuf,
            /// Audience configuration as a JSON file (camelCase fields of AudienceConfig).
            #[arg(long)]
            config: Option<PathBuf>,
            /// Pipeline options as a JSON file.
            #[arg(long)]
            options: Option<PathBuf>,
            /// Also print the live snapshot once per second of video, as JSON lines.
            #[arg(long)]
            snapshots: bool,
            /// Also print each finished visit (dwell, attention, band, gender) as a JSON line.
            /// For evaluation against ground truth only: these are per person and never stored.
            #[arg(long)]
            visits: bool,
            /// The report's k-anonymity: the fewest people a published count may describe.
            #[arg(long, default_value_t = 5)]
            k: u32,
            #[command(flatten)]
            push: PushArgs,
        },
        /// Write a report's plays (the JSON of `glance audience` or the dashboard) in a format
        /// buyers' systems read, on stdout: broadsign-pop, xibo-stats, openrtb-qty or csv.
        Export {
            report: PathBuf,
            #[arg(long)]
            format: String,
            /// The screen the report measured.
            #[arg(long)]
            screen: String,
            #[arg(long, default_value = "")]
            venue: String,
            /// The screen's offset from UTC, minutes (Broadsign and Xibo give local times).
            #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
            utc_offset_minutes: i32,
            /// The screen's Broadsign ids, for broadsign-pop: PLAYER,DISPLAY_UNIT,FRAME.
            #[arg(long)]
            broadsign_ids: Option<String>,
            /// The measurement vendor's domain, for openrtb-qty (imp.qty.vendor).
            #[arg(long)]
            vendor: Option<String>,
        },
        /// Write the embedded model weights as `<name>.bpk` files (for the web package).
        ExportModels { dir: PathBuf },
        /// Write the JSON Schema of everything the engine takes and gives (options, results,
        /// snapshot, decision, report, timeline, events, error names): the web package's
        /// TypeScript declarations are generated from it.
        Schema { file: PathBuf },
        /// Replay a scripted audience timeline (JSON lines) against a rules document and print
        /// each decision with its reason, then a summary.
        Simulate {
            #[arg(long)]
            rules: PathBuf,
            #[arg(long)]
            timeline: PathBuf,
        },
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct FrameLine<'a> {
        file: &'a str,
        frame: u64,
        #[serde(flatten)]
        analysis: &'a FrameAnalysis,
    }

    /// Reads a JSON options file; errors name the file and the field.
    /// Options or configuration from a JSON file (the defaults without one), checked: every
    /// error names the file and the field.
    fn read_json<T: serde::de::DeserializeOwned + Serialize + Default + CheckedJson>(
        path: Option<&Path>,
    ) -> Result<T, GlanceError> {
        let Some(path) = path else {
            return Ok(T::default());
        };
        let error = |field: &str, message: String| GlanceError::Config {
            path: if field.is_empty() {
                path.display().to_string()
            } else {
                format!("{}: {field}", path.display())
            },
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| GlanceError::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| error("", e.to_string()))?;
        let parsed: T = serde_path_to_error::deserialize(&value)
            .map_err(|e| error(&e.path().to_string(), e.inner().to_string()))?;
        // serde would take an array for a struct's fields in order: `[]` would be the defaults.
        if let Some(field) = glance::json_shape::struct_given_as_non_object(&value, &parsed) {
            return Err(error(&field, "must be a JSON object ({...})".into()));
        }
        parsed
            .check()
            .map_err(|(field, message)| error(&field, message))?;
        Ok(parsed)
    }

    /// The checks a file's values must pass, as (field, message).
    trait CheckedJson {
        fn check(&self) -> Result<(), (String, String)>;
    }

    impl CheckedJson for PipelineOptions {
        fn check(&self) -> Result<(), (String, String)> {
            self.validate().map_err(|e| match e {
                GlanceError::Config { path, message } => (path, message),
                other => (String::new(), other.to_string()),
            })
        }
    }

    impl CheckedJson for AudienceConfig {
        fn check(&self) -> Result<(), (String, String)> {
            self.validate().map_err(|e| (String::new(), e.to_string()))
        }
    }

    fn print_json(value: &impl Serialize) {
        let line = serde_json::to_string(value).expect("results serialise");
        // A closed pipe (e.g. `| head`) ends output; nothing else to do.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    fn print_line(file: &str, frame: u64, analysis: &FrameAnalysis) {
        print_json(&FrameLine {
            file,
            frame,
            analysis,
        });
    }

    fn analyze_file(pipeline: &Pipeline, path: &Path) -> Result<(), GlanceError> {
        let name = path.display().to_string();
        if is_y4m(path) {
            let mut video = Y4mReader::open(path)?;
            let mut index = 0u64;
            while let Some((timestamp_ms, image)) = video.next_timed_frame(0.0)? {
                let analysis = pollster::block_on(pipeline.analyze(&image.frame()?, timestamp_ms))?;
                print_line(&name, index, &analysis);
                index += 1;
            }
        } else {
            let image = load_image(path)?;
            let analysis = pollster::block_on(pipeline.analyze(&image.frame()?, 0.0))?;
            print_line(&name, 0, &analysis);
        }
        Ok(())
    }

    /// Why a command failed: the engine's own typed error, an argument it cannot use, a file it
    /// cannot read, or records the ingest service did not store.
    #[derive(Debug, thiserror::Error)]
    enum CliError {
        #[error(transparent)]
        Glance(#[from] GlanceError),
        #[error(transparent)]
        Export(#[from] glance::audience::ExportError),
        /// An argument (`--screen`, `--broadsign-ids`, `--format`, ...), with what is wrong.
        #[error("{0}")]
        Argument(String),
        /// A file, with what is wrong with it.
        #[error("{path}: {message}")]
        File { path: String, message: String },
        #[error("{0} records were not stored")]
        NotStored(u64),
    }

    /// Sending the fleet records to an ingest service (edge boxes without a browser).
    #[derive(clap::Args)]
    struct PushArgs {
        /// The ingest service's records URL (`https://.../v1/records`): send the screen's
        /// records (audience minutes, proof of play, heartbeats) as they become final. The clip
        /// is timed from now (or --start-ms), as a camera would be.
        #[arg(long, requires_all = ["token", "screen"])]
        push: Option<String>,
        /// The screen's token (also read from GLANCE_TOKEN).
        #[arg(long, env = "GLANCE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The screen's id, as the ingest service's configuration names it.
        #[arg(long)]
        screen: Option<String>,
        /// The clip's first frame time, ms since the epoch (default: now).
        #[arg(long)]
        start_ms: Option<i64>,
        /// How long to keep retrying at the end until every record is acknowledged, seconds.
        #[arg(long, default_value_t = 120)]
        push_wait_s: u64,
    }

    /// The records of a run, queued for the ingest service; heartbeats once a minute.
    struct RecordSender {
        pusher: Pusher,
        screen: String,
        last_heartbeat_minute: Option<i64>,
        frames_since_heartbeat: u32,
    }

    impl RecordSender {
        fn start(args: &PushArgs) -> Result<Option<(Self, i64)>, CliError> {
            let (Some(url), Some(token), Some(screen)) = (&args.push, &args.token, &args.screen)
            else {
                return Ok(None);
            };
            glance::fleet::records::check_screen_id(screen)
                .map_err(|m| CliError::Argument(format!("--screen {screen:?}: {m}")))?;
            let start_ms = args.start_ms.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64)
            });
            let sender = RecordSender {
                pusher: Pusher::start(url, token),
                screen: screen.clone(),
                last_heartbeat_minute: None,
                frames_since_heartbeat: 0,
            };
            Ok(Some((sender, start_ms)))
        }

        /// After each frame: the records that became final, and a heartbeat each minute.
        fn after_frame(&mut self, engine: &Engine, now_ms: f64, flush: bool) {
            self.frames_since_heartbeat += 1;
            let records = engine
                .take_records(&self.screen, flush)
                .expect("the screen id was checked");
            self.pusher.send(records);
            let minute = (now_ms / 60_000.0).floor() as i64;
            if self.last_heartbeat_minute.is_none_or(|m| m < minute) || flush {
                let fps = self.frames_since_heartbeat as f64 / 60.0;
                let heartbeat = Heartbeat::new(
                    &self.screen,
                    now_ms as i64,
                    ScreenHealth {
                        camera: CameraState::Live,
                        analysed_fps: if self.last_heartbeat_minute.is_some() {
                            fps
                        } else {
                            0.0
                        },
                        backend: HealthBackend::Cpu,
                        outbox_depth: 0,
                        outbox_dropped: 0,
                        last_ack_ms: None,
                        rules: None,
                    },
                );
                self.pusher.send(vec![Record::Heartbeat(heartbeat)]);
                self.last_heartbeat_minute = Some(minute);
                self.frames_since_heartbeat = 0;
            }
        }
    }

    /// The `audience` command's options: the audience configuration and the pipeline options,
    /// each from its file (errors name the file, not the video).
    fn audience_options(
        config: Option<&Path>,
        options: Option<&Path>,
    ) -> Result<EngineOptions, GlanceError> {
        Ok(EngineOptions {
            audience: read_json(config)?,
            pipeline: read_json(options)?,
            ..Default::default()
        })
    }

    fn audience(
        video: &Path,
        options: EngineOptions,
        snapshots: bool,
        visits: bool,
        k: u32,
        push: &PushArgs,
    ) -> Result<(), CliError> {
        let engine = cpu_pipeline(options.pipeline.clone())
            .and_then(|pipeline| Engine::new(pipeline, BackendSetup::cpu(), options))?;
        engine.keep_completed_visits();
        let mut sender = RecordSender::start(push)?;
        let start_ms = sender.as_ref().map_or(0, |(_, start)| *start) as f64;
        let mut reader = Y4mReader::open(video)?;
        let mut last_second = None;
        let mut result = Ok(());
        let print_visits = || {
            if visits {
                for v in engine.take_completed_visits() {
                    print_json(&serde_json::json!({ "visit": v }));
                }
            }
        };
        loop {
            let (timestamp_ms, image) = match reader.next_timed_frame(start_ms) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                // Report what was measured up to the damage, then fail.
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            };
            let frame = image.frame()?;
            pollster::block_on(engine.process_frame(&frame, timestamp_ms))?;
            // The CLI prints results, not events.
            engine.take_events();
            let second = (timestamp_ms / 1000.0).floor() as i64;
            if snapshots && last_second != Some(second) {
                let snapshot = engine.snapshot();
                print_json(&serde_json::json!({ "snapshot": snapshot }));
                last_second = Some(second);
            }
            print_visits();
            if let Some((sender, _)) = &mut sender {
                sender.after_frame(&engine, timestamp_ms, false);
            }
        }
        let end_ms = reader.end_ms(start_ms);
        engine.finish(end_ms);
        print_visits();
        let report = engine.report(&ReportOptions {
            k,
            ..ReportOptions::default()
        });
        print_json(&serde_json::json!({ "report": report }));
        if let Some((mut sender, _)) = sender {
            sender.after_frame(&engine, end_ms, true);
            let summary = sender
                .pusher
                .finish(std::time::Duration::from_secs(push.push_wait_s));
            eprintln!(
                "glance: pushed {} records ({} refused, {} unsent, {} retries)",
                summary.acknowledged, summary.refused, summary.unsent, summary.retries
            );
            let not_stored = summary.refused + summary.unsent + summary.dropped;
            if not_stored > 0 {
                return Err(CliError::NotStored(not_stored as u64));
            }
        }
        result
    }

    fn export_models(dir: &Path) -> std::io::Result<()> {
        let weights = glance::vision::ModelWeights::embedded();
        std::fs::create_dir_all(dir)?;
        for (name, bytes) in weights.files() {
            std::fs::write(dir.join(format!("{name}.bpk")), &bytes[..])?;
        }
        Ok(())
    }

    /// What `glance export` was asked for besides the report and screen.
    struct ExportTarget<'a> {
        format: &'a str,
        utc_offset_minutes: i32,
        broadsign_ids: Option<&'a str>,
        vendor: Option<&'a str>,
    }

    /// A saved report's plays in the target's format.
    fn export(
        report: &Path,
        mut screen: glance::audience::ExportScreen,
        target: &ExportTarget,
    ) -> Result<String, CliError> {
        use glance::audience::{
            AudienceReport, BroadsignIds, ExportFormat, export_plays, plays_at,
        };
        let format = ExportFormat::from_name(target.format)?;
        if let Some(ids) = target.broadsign_ids {
            let numbers: Vec<u64> = ids
                .split(',')
                .map(|n| n.trim().parse::<u64>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    CliError::Argument(format!(
                        "--broadsign-ids \"{ids}\": PLAYER,DISPLAY_UNIT,FRAME"
                    ))
                })?;
            let [player_id, display_unit_id, frame_id] = numbers[..] else {
                return Err(CliError::Argument(format!(
                    "--broadsign-ids \"{ids}\": PLAYER,DISPLAY_UNIT,FRAME (three numbers)"
                )));
            };
            screen.broadsign = Some(BroadsignIds {
                player_id,
                display_unit_id,
                frame_id,
            });
        }
        let file_error = |message: String| CliError::File {
            path: report.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(report).map_err(|e| file_error(e.to_string()))?;
        let report_json: AudienceReport = serde_json::from_str(&text)
            .map_err(|e| file_error(format!("not a Glance report: {e}")))?;
        let plays = plays_at(&report_json, &screen, target.utc_offset_minutes);
        Ok(export_plays(&plays, format, target.vendor)?)
    }

    pub fn main() -> ExitCode {
        match Cli::parse().command {
            Command::Audience {
                video,
                config,
                options,
                snapshots,
                visits,
                k,
                push,
            } => {
                let options = match audience_options(config.as_deref(), options.as_deref()) {
                    Ok(options) => options,
                    Err(e) => {
                        eprintln!("glance: {e}");
                        return ExitCode::from(2);
                    }
                };
                match audience(&video, options, snapshots, visits, k, &push) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("glance: {}: {e}", video.display());
                        ExitCode::FAILURE
                    }
                }
            }
            Command::Export {
                report,
                format,
                screen,
                venue,
                utc_offset_minutes,
                broadsign_ids,
                vendor,
            } => {
                let screen = glance::audience::ExportScreen {
                    id: screen,
                    venue,
                    broadsign: None,
                };
                let target = ExportTarget {
                    format: &format,
                    utc_offset_minutes,
                    broadsign_ids: broadsign_ids.as_deref(),
                    vendor: vendor.as_deref(),
                };
                run_export(&report, screen, &target)
            }
            Command::ExportModels { dir } => match export_models(&dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("glance export-models: {}: {e}", dir.display());
                    ExitCode::FAILURE
                }
            },
            Command::Schema { file } => run_schema(&file),
            Command::Simulate { rules, timeline } => run_simulate(&rules, &timeline),
            Command::Analyze { options, files } => run_analyze(options.as_deref(), &files),
        }
    }

    fn run_export(
        report: &Path,
        screen: glance::audience::ExportScreen,
        target: &ExportTarget,
    ) -> ExitCode {
        match export(report, screen, target) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("glance export: {e}");
                ExitCode::from(2)
            }
        }
    }

    fn run_schema(file: &Path) -> ExitCode {
        let text = serde_json::to_string_pretty(&glance::schema::api_schema())
            .expect("a JSON value serialises");
        match std::fs::write(file, text + "\n") {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("glance schema: {}: {e}", file.display());
                ExitCode::FAILURE
            }
        }
    }

    fn run_simulate(rules: &Path, timeline: &Path) -> ExitCode {
        match glance::rules::run_simulate_cli(rules, timeline, &mut std::io::stdout().lock()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                for issue in e.issues() {
                    eprintln!("glance simulate: {}: {}", issue.path, issue.message);
                }
                ExitCode::from(2)
            }
        }
    }

    fn run_analyze(options: Option<&Path>, files: &[PathBuf]) -> ExitCode {
        let pipeline = match read_json(options).and_then(cpu_pipeline) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("glance: {e}");
                return ExitCode::from(2);
            }
        };
        let mut failed = 0;
        for path in files {
            if let Err(e) = analyze_file(&pipeline, path) {
                eprintln!("glance: {}: {e}", path.display());
                failed += 1;
            }
        }
        if failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}
