//! The introspectd binary: parse the command line, load and validate configuration (one line and
//! a non-zero exit on error), then serve or mint.

use std::process::ExitCode;

use introspectd::cli::{self, Command};
use introspectd::clock::unix_now;
use introspectd::config::{Settings, Sources};
use introspectd::startup::Application;
use introspectd::telemetry;
use introspectd::token::signer::{mint_claims, Signer};
use introspectd::token::Verifier;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args, std::env::var("INTROSPECTD_CONFIG").ok()) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("usage error: {err}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let config = match &command {
        Command::Help => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("introspectd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Serve { config }
        | Command::Mint { config, .. }
        | Command::Healthcheck { config, .. } => config.clone(),
    };
    let sources = Sources {
        file: config.as_deref(),
        env: std::env::vars().collect(),
    };
    let settings = match Settings::load(&sources) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Mint { request, .. } => mint(&settings, &request),
        Command::Healthcheck { ready, .. } => healthcheck(&settings, ready),
        _ => serve(settings),
    }
}

fn serve(settings: Settings) -> ExitCode {
    telemetry::init(&settings.log);
    actix_web::rt::System::new().block_on(async move {
        let app = match Application::build(settings).await {
            Ok(app) => app,
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::FAILURE;
            }
        };
        match app.run_until_signalled().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("server error: {err}");
                ExitCode::FAILURE
            }
        }
    })
}

fn healthcheck(settings: &Settings, ready: bool) -> ExitCode {
    let Ok(listen) = settings.listen_addr() else {
        return ExitCode::FAILURE;
    };
    let path = if ready { "/readyz" } else { "/healthz" };
    match introspectd::healthcheck::probe(introspectd::healthcheck::probe_address(listen), path) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("{path}: HTTP {status}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("{path}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn mint(settings: &Settings, request: &introspectd::token::signer::MintRequest) -> ExitCode {
    let signer = match Verifier::from_settings(&settings.jwt)
        .and_then(|_| Signer::from_settings(&settings.jwt))
    {
        Ok(Some(signer)) => signer,
        Ok(None) => {
            eprintln!("config error: jwt.private_key_file: is required to mint tokens with asymmetric algorithms");
            return ExitCode::FAILURE;
        }
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    match signer.sign(&mint_claims(&settings.jwt, request, unix_now())) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cannot sign: {err}");
            ExitCode::FAILURE
        }
    }
}
