//! The `tessera` binary: parse the command line, load configuration, run a
//! command. Failures print one clear line and exit non-zero, never a panic.

use clap::Parser;
use std::process::ExitCode;
use tessera::cli::{self, Cli, Command};
use tessera::commands;
use tessera::commands::backend::Local;
use tessera::config::{Config, FlagOverrides, LogFormat};
use tessera::telemetry::Otlp;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let remote = match commands::remote::remote_settings(&cli) {
        Ok(r) => r,
        Err(e) => return fail(&format!("{e:#}"), 2),
    };
    let (listen, issuer, admin_listen) = match &cli.command {
        Command::Serve(a) => (a.listen.clone(), a.issuer.clone(), a.admin_listen.clone()),
        _ => (None, None, None),
    };
    let flags = FlagOverrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        listen,
        issuer,
        admin_listen,
    };
    let config = match Config::load(cli.config.as_deref(), flags) {
        Ok(c) => c,
        Err(e) => return fail(&format!("invalid configuration: {e}"), 2),
    };
    if let Err(e) = config.validate() {
        return fail(&format!("invalid configuration: {e}"), 2);
    }
    // Held to the end of `main`: dropping it writes out the lines still queued.
    let (otlp, _log_writer) = match init_tracing(&config, matches!(cli.command, Command::Serve(_))) {
        Ok(t) => t,
        Err(e) => return fail(&format!("invalid configuration: tracing: {e:#}"), 2),
    };
    let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
    for unknown in tessera::config::unknown_env_vars(names) {
        tracing::warn!(
            variable = %unknown.name,
            closest = %unknown.closest,
            "ignoring an environment variable that names no configuration key (closest known: {})",
            unknown.closest
        );
    }
    // Commands that need no database.
    let command = match cli.command {
        Command::Plugin(cli::PluginCommand::CompileWorker { wasm_in, cwasm_out }) => {
            return match tessera_plugin_host::compile_worker_main(&wasm_in, &cwasm_out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.to_string(), 1),
            };
        }
        Command::Plugin(cli::PluginCommand::Run(args)) => {
            return match commands::plugins::run_local(&config, args) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => fail(&format!("{e:#}"), 1),
            };
        }
        Command::Plugin(cli::PluginCommand::Keygen(args)) => {
            return match commands::plugins::keygen(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("{e:#}"), 1),
            };
        }
        Command::Plugin(cli::PluginCommand::Sign(args)) => {
            return match commands::plugins::sign(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("{e:#}"), 1),
            };
        }
        Command::Plugin(cli::PluginCommand::New(args)) => {
            return match commands::plugin_author::new_project(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("{e:#}"), 1),
            };
        }
        Command::Plugin(cli::PluginCommand::Test(args)) => {
            return match commands::plugin_author::test_cases(&config, args) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => fail(&format!("{e:#}"), 1),
            };
        }
        Command::MasterKey(cli::MasterKeyCommand::Generate { json }) => {
            return exit_code(commands::master_key::generate(json));
        }
        // A copy of the database as it is: no migration, no key creation.
        Command::Backup(args) if remote.is_none() => {
            return exit_code(commands::backup::run(&config, &args.path, args.json));
        }
        other => other,
    };
    if let Some(settings) = remote {
        return exit_code(commands::remote::run(settings, command));
    }
    exit_code(run(command, config, otlp))
}

fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Refusals the operator resolves (not crashes): 2, like a bad configuration.
        Err(e) if e.is::<commands::Refused>() || e.is::<commands::backup::BackupRefused>() => {
            fail(&format!("{e:#}"), 2)
        }
        Err(e) => fail(&format!("{e:#}"), 1),
    }
}

fn run(command: Command, config: Config, otlp: Option<Otlp>) -> anyhow::Result<()> {
    let ctx = match command {
        Command::Migrate => commands::migrate(config)?,
        _ => commands::open(config)?,
    };
    let result = match command {
        // Sends the queued spans in its shutdown hooks.
        Command::Serve(_) => return commands::serve::run(ctx, otlp),
        Command::Migrate => {
            println!("database is up to date; signing keys are present");
            Ok(())
        }
        // Answered in `main`, before any migration.
        Command::Backup(_) => Ok(()),
        Command::User(c) => commands::resources::user(&Local::new(&ctx), c),
        Command::Client(c) => commands::resources::client(&Local::new(&ctx), c),
        Command::Api(c) => commands::resources::api(&Local::new(&ctx), c),
        Command::Keys(c) => commands::admin::keys(&Local::new(&ctx), c),
        Command::Plugin(c) => commands::pipeline::plugin(&Local::new(&ctx), c),
        Command::Binding(c) => commands::pipeline::binding(&Local::new(&ctx), c),
        Command::Export(a) => commands::export::export(&Local::new(&ctx), a),
        Command::Apply(a) => commands::apply::apply(&Local::new(&ctx), a),
        Command::Admin(c) => commands::admin::admin(&Local::new(&ctx), c),
        Command::Audit(cli::AuditCommand::Verify { json }) => commands::audit::verify(&Local::new(&ctx), json),
        Command::Audit(cli::AuditCommand::Export(a)) => commands::audit::export(&Local::new(&ctx), a),
        Command::MgmtClient(c) => commands::mgmt::mgmt_client(&ctx, c),
        Command::MasterKey(c) => commands::master_key::run(&ctx, c),
    };
    // A one-shot command sends its spans when it is done.
    if let Some(otlp) = otlp
        && let Err(e) = otlp.shutdown()
    {
        tracing::warn!(error = %format!("{e:#}"), "traces not sent");
    }
    result
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// The log lines (filtered by `log.level` or `RUST_LOG`) and, when
/// `[tracing] otlp_endpoint` is set, the OTLP span exporter; its handle is
/// returned so the spans still queued are sent at exit.
///
/// A server (`background`) writes its lines from a thread of their own:
/// the request hands its access line to a queue and goes on, and the
/// thread writes whatever has queued up with one `write` (a syscall per
/// request was about a tenth of a token's CPU, BENCHMARKS.md "The log
/// written off the request path"). The queue never drops a line: when it
/// is full (128,000 lines, a stalled log reader) requests wait, as they
/// did on a blocked stderr. The returned guard writes out what is queued
/// when it is dropped at the end of `main`; a killed process loses what
/// was queued at that moment. Other commands write their few lines
/// directly, so they stay in order with the command's own output.
fn init_tracing(
    config: &Config,
    background: bool,
) -> anyhow::Result<(Option<Otlp>, Option<tracing_appender::non_blocking::WorkerGuard>)> {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    // Colour only on a terminal (and never with NO_COLOR set): logs sent to a
    // file, a journal or a test's captured output stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let (writer, guard) = if background {
        let (queue, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .thread_name("tessera-log")
            .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
        (BoxMakeWriter::new(queue), Some(guard))
    } else {
        (BoxMakeWriter::new(std::io::stderr), None)
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    let fmt = match config.log.format {
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
        LogFormat::Text => fmt.with_filter(filter).boxed(),
    };
    let registry = tracing_subscriber::registry().with(fmt);
    // The exporter has its own filter: the server's spans (all at info) are
    // traced whatever the log level, and dependencies' chatter is not.
    let (otel, otlp) = match tessera::telemetry::otlp_layer(&config.tracing)? {
        Some((layer, otlp)) => {
            let only_ours = Targets::new().with_target("tessera", LevelFilter::INFO);
            (Some(layer.with_filter(only_ours)), Some(otlp))
        }
        None => (None, None),
    };
    let _ = registry.with(otel).try_init();
    Ok((otlp, guard))
}
