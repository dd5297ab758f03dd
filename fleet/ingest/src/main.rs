//! `glance-ingest serve CONFIG`, and the token helpers an operator needs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use glance_ingest::{Config, describe, hash_token, new_token, serve};

#[derive(Parser)]
#[command(name = "glance-ingest", about = "The Glance fleet's ingest service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve screens' record batches as the configuration file says.
    Serve { config: PathBuf },
    /// Make a new random token for a screen and print it with the line for the configuration
    /// (only the hash goes into the configuration; give the token to the screen).
    NewToken { screen_id: String },
    /// Print the SHA-256 of a token, as `token_sha256` in the configuration.
    HashToken { token: String },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { config } => run(config),
        Command::NewToken { screen_id } => {
            if let Err(m) = glance::fleet::records::check_screen_id(&screen_id) {
                eprintln!("glance-ingest: screen id {screen_id:?}: {m}");
                return ExitCode::from(2);
            }
            let token = new_token();
            println!("token (give it to the screen): {token}");
            println!(
                "[[screens]]\nid = \"{screen_id}\"\ntoken_sha256 = \"{}\"",
                hash_token(&token)
            );
            ExitCode::SUCCESS
        }
        Command::HashToken { token } => {
            println!("{}", hash_token(&token));
            ExitCode::SUCCESS
        }
    }
}

fn run(path: PathBuf) -> ExitCode {
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("glance-ingest: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match std::net::TcpListener::bind(config.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("glance-ingest: cannot listen on {}: {e}", config.listen);
            return ExitCode::from(2);
        }
    };
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    eprintln!("glance-ingest: listening on {}", describe(&config, addr));
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match runtime.block_on(serve(config, listener, stop)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("glance-ingest: {e}");
            ExitCode::FAILURE
        }
    }
}
