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
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct FrameLine<'a> {
        file: &'a str,
        frame: u64,
        #[serde(flatten)]
        analysis: &'a FrameAnalysis,
    }

    fn read_options(path: Option<&Path>) -> Result<PipelineOptions, GlanceError> {
        let Some(path) = path else {
            return Ok(PipelineOptions::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| GlanceError::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut de = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| GlanceError::Config {
            path: format!("{}: {}", path.display(), e.path()),
            message: e.inner().to_string(),
        })
    }

    fn print_line(file: &str, frame: u64, analysis: &FrameAnalysis) {
        let line = serde_json::to_string(&FrameLine {
            file,
            frame,
            analysis,
        })
        .expect("results serialise");
        let mut out = std::io::stdout().lock();
        // A closed pipe (e.g. `| head`) ends output; nothing else to do.
        let _ = writeln!(out, "{line}");
    }

    fn analyze_file(pipeline: &Pipeline, path: &Path) -> Result<(), GlanceError> {
        let name = path.display().to_string();
        if is_y4m(path) {
            let mut video = Y4mReader::open(path)?;
            let rate = video.frame_rate();
            let mut index = 0u64;
            while let Some(image) = video.next_frame()? {
                let analysis = pollster::block_on(
                    pipeline.analyze(&image.frame()?, index as f64 * 1000.0 / rate),
                )?;
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

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        match cli.command {
            Command::Analyze { options, files } => {
                let pipeline = match read_options(options.as_deref()).and_then(cpu_pipeline) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("glance: {e}");
                        return ExitCode::from(2);
                    }
                };
                let mut failed = 0;
                for path in &files {
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
    }
}
