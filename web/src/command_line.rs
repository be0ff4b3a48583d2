//! Both binaries' command lines in Vietnamese: help, usage and clap's own errors.
//!
//! clap writes its headings ("Usage", "Options"...), the help of `-h`/`--help`, the
//! `[default: …]` / `[possible values: …]` notes and its usage errors in English. The
//! parsed [`Command`] is built once (so the generated `--help`, `--version` and `help`
//! subcommand exist and can be changed like any other), then every command and argument
//! is given Vietnamese headings and notes; usage errors are written here from
//! [`ErrorKind`] and the error's context, never from clap's English text, and exit with
//! clap's own code (2; 0 for help and version).

use clap::builder::PossibleValue;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};
use std::ffi::OsString;

/// The help page: clap's default layout with a Vietnamese usage heading.
const TEMPLATE: &str =
    "{before-help}{about-with-newline}\nCách dùng: {usage}\n\n{all-args}{after-help}";
/// Heading of positional arguments.
const ARGUMENTS: &str = "Tham số";
/// Heading of options and flags.
const OPTIONS: &str = "Tùy chọn";
/// Heading of subcommands.
const COMMANDS: &str = "Lệnh";
/// What `[OPTIONS]` in a usage line becomes (clap writes that one literally).
const OPTIONS_TAG: &str = "[TÙY CHỌN]";

/// Parses the process's arguments into `C`, or prints help, the version or a usage
/// error in Vietnamese and exits as clap would (0 for help and version, 2 otherwise).
pub fn parse<C: CommandFactory + FromArgMatches>() -> C {
    match try_parse_from::<C, _, _>(std::env::args_os()) {
        Ok(c) => c,
        Err(stop) => {
            if stop.to_stderr {
                eprint!("{}", stop.text);
            } else {
                print!("{}", stop.text);
            }
            std::process::exit(stop.code)
        }
    }
}

/// Why parsing stopped before a command: what to print, where, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// The text, ending with a new line.
    pub text: String,
    /// Errors and help asked for by a wrong command line go to stderr.
    pub to_stderr: bool,
    /// 0 for help and version, 2 for a usage error.
    pub code: i32,
}

/// [`parse`] without printing or exiting.
pub fn try_parse_from<C, I, T>(args: I) -> Result<C, Stop>
where
    C: CommandFactory + FromArgMatches,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = command::<C>();
    let mut m = match cmd.try_get_matches_from_mut(args.iter().cloned()) {
        Ok(m) => m,
        Err(e) => return Err(stop(&e, &cmd, &args)),
    };
    C::from_arg_matches_mut(&mut m).map_err(|e| stop(&e, &cmd, &args))
}

/// `C`'s command, built and in Vietnamese.
pub fn command<C: CommandFactory>() -> Command {
    let mut cmd = C::command();
    cmd.build();
    localize(cmd)
}

fn localize(cmd: Command) -> Command {
    let generated_help = cmd.get_name() == "help" && is_generated_help(&cmd);
    let mut cmd = cmd
        .help_template(TEMPLATE)
        .subcommand_help_heading(COMMANDS)
        .subcommand_value_name("LỆNH")
        .mut_args(localize_arg)
        .mut_subcommands(localize);
    if generated_help {
        cmd = cmd.about("Xem hướng dẫn chung, hoặc của các lệnh được nêu");
    }
    cmd
}

/// clap's own `help` subcommand (no command of ours is called `help`).
fn is_generated_help(cmd: &Command) -> bool {
    cmd.get_about()
        .is_some_and(|a| a.to_string().starts_with("Print this message"))
}

fn localize_arg(a: Arg) -> Arg {
    let a = match a.get_action() {
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong => {
            if a.get_long_help().is_some() {
                a.help("Xem hướng dẫn (--help: đầy đủ hơn)")
                    .long_help("Xem hướng dẫn (-h: tóm tắt)")
            } else {
                a.help("Xem hướng dẫn")
            }
        }
        ArgAction::Version => a.help("Xem số phiên bản"),
        _ if a.get_id() == "subcommand" && a.is_positional() => a
            .value_name("LỆNH")
            .help("Lệnh cần xem hướng dẫn (có thể nêu cả lệnh con)"),
        _ => a,
    };
    let heading = if a.is_positional() {
        ARGUMENTS
    } else {
        OPTIONS
    };
    with_notes(a).help_heading(heading)
}

/// Moves clap's English `[default: …]`, `[possible values: …]` and `[env: …]` notes into
/// the argument's help, in Vietnamese.
fn with_notes(mut a: Arg) -> Arg {
    let takes_value = a.get_num_args().is_some_and(|r| r.takes_values());
    let mut notes = Vec::new();
    let mut described = Vec::new();
    if takes_value && !a.is_hide_possible_values_set() {
        let values: Vec<PossibleValue> = a
            .get_possible_values()
            .into_iter()
            .filter(|v| !v.is_hide_set())
            .collect();
        if !values.is_empty() {
            let names: Vec<&str> = values.iter().map(PossibleValue::get_name).collect();
            notes.push(format!("giá trị: {}", names.join(", ")));
            described = values
                .iter()
                .filter_map(|v| v.get_help().map(|h| format!("  {}: {h}", v.get_name())))
                .collect();
            a = a.hide_possible_values(true);
        }
    }
    if takes_value && !a.is_hide_default_value_set() && !a.get_default_values().is_empty() {
        let d: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        notes.push(format!("mặc định: {}", d.join(" ")));
        a = a.hide_default_value(true);
    }
    if !a.is_hide_env_set() {
        if let Some(env) = a.get_env() {
            notes.push(format!("biến môi trường: {}", env.to_string_lossy()));
        }
        a = a.hide_env(true);
    }
    if notes.is_empty() {
        return a;
    }
    let note = format!("[{}]", notes.join("; "));
    let help = match a.get_help() {
        Some(h) => format!("{h} {note}"),
        None => note.clone(),
    };
    let long = a.get_long_help().map(|h| {
        let mut s = format!("{h}\n\n{note}");
        for d in &described {
            s.push('\n');
            s.push_str(d);
        }
        s
    });
    let a = a.help(help);
    match long {
        Some(l) => a.long_help(l),
        None => a,
    }
}

/// What to print for a clap error: help and version as clap made them (with the
/// Vietnamese headings given above), anything else as a Vietnamese usage error.
fn stop(e: &clap::Error, cmd: &Command, args: &[OsString]) -> Stop {
    let code = e.exit_code();
    let to_stderr = e.use_stderr();
    let text = match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        | ErrorKind::DisplayVersion => {
            let mut t = vietnamese_usage(&e.render().to_string());
            if !t.ends_with('\n') {
                t.push('\n');
            }
            t
        }
        _ => usage_error(e, cmd, args),
    };
    Stop {
        text,
        to_stderr,
        code,
    }
}

fn vietnamese_usage(s: &str) -> String {
    s.replace("[OPTIONS]", OPTIONS_TAG)
}

fn ctx(e: &clap::Error, kind: ContextKind) -> Option<&str> {
    match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s),
        _ => None,
    }
}

fn ctx_list(e: &clap::Error, kind: ContextKind) -> Vec<String> {
    match e.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        _ => Vec::new(),
    }
}

fn ctx_number(e: &clap::Error, kind: ContextKind) -> Option<isize> {
    match e.get(kind) {
        Some(ContextValue::Number(n)) => Some(*n),
        _ => None,
    }
}

fn quoted(v: &[String]) -> String {
    v.iter()
        .map(|x| format!("«{x}»"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The usage error, the usage line of the command it is about, and where to read more.
fn usage_error(e: &clap::Error, cmd: &Command, args: &[OsString]) -> String {
    let arg = ctx(e, ContextKind::InvalidArg).unwrap_or("");
    let value = ctx(e, ContextKind::InvalidValue).unwrap_or("");
    let mut msg = match e.kind() {
        ErrorKind::UnknownArgument if arg.parse::<i64>().is_ok_and(|n| n < 0) => {
            format!("«{arg}»: số không được âm")
        }
        ErrorKind::UnknownArgument if arg.starts_with('-') => {
            format!("lệnh này không có tùy chọn «{arg}»")
        }
        ErrorKind::UnknownArgument => format!("thừa tham số «{arg}»"),
        ErrorKind::InvalidValue if value.is_empty() => format!("{arg}: thiếu giá trị"),
        ErrorKind::InvalidValue => {
            let allowed = ctx_list(e, ContextKind::ValidValue);
            if allowed.is_empty() {
                format!("{arg}: giá trị «{value}» không hợp lệ")
            } else {
                format!(
                    "{arg}: giá trị «{value}» không hợp lệ; dùng một trong: {}",
                    allowed.join(", ")
                )
            }
        }
        ErrorKind::ValueValidation => {
            format!("{arg}: giá trị «{value}» không hợp lệ: {}", why_invalid(e))
        }
        ErrorKind::MissingRequiredArgument => {
            let missing = ctx_list(e, ContextKind::InvalidArg);
            format!("thiếu tham số bắt buộc: {}", missing.join(", "))
        }
        ErrorKind::InvalidSubcommand => format!(
            "không có lệnh «{}»",
            ctx(e, ContextKind::InvalidSubcommand).unwrap_or("")
        ),
        ErrorKind::MissingSubcommand => {
            let valid = ctx_list(e, ContextKind::ValidSubcommand);
            format!(
                "«{}» cần một lệnh con: {}",
                ctx(e, ContextKind::InvalidSubcommand).unwrap_or(""),
                valid.join(", ")
            )
        }
        ErrorKind::ArgumentConflict => {
            let prior = ctx_list(e, ContextKind::PriorArg);
            if prior.len() == 1 && prior[0] == arg {
                format!("«{arg}» chỉ được nêu một lần")
            } else if prior.is_empty() {
                format!("«{arg}» không dùng cùng các tham số khác đã nêu")
            } else {
                format!("«{arg}» không dùng cùng {}", quoted(&prior))
            }
        }
        ErrorKind::TooManyValues => format!("{arg}: thừa giá trị «{value}»"),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            let need = ctx_number(e, ContextKind::MinValues)
                .or_else(|| ctx_number(e, ContextKind::ExpectedNumValues))
                .unwrap_or(0);
            let got = ctx_number(e, ContextKind::ActualNumValues).unwrap_or(0);
            format!("{arg}: cần {need} giá trị, mới có {got}")
        }
        ErrorKind::NoEquals => format!("{arg}: cần viết liền với dấu =, ví dụ {arg}=GIÁ_TRỊ"),
        ErrorKind::InvalidUtf8 => "dòng lệnh có ký tự không phải UTF-8".to_string(),
        _ => "dòng lệnh không hợp lệ".to_string(),
    };
    let suggested: Vec<String> = [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .flat_map(|k| ctx_list(e, k))
    .collect();
    if !suggested.is_empty() {
        msg.push_str(&format!(" (có phải ý là {}?)", quoted(&suggested)));
    }
    let mut sub = addressed(cmd, args);
    let usage = sub.render_usage().to_string();
    let usage = usage.trim().trim_start_matches("Usage:").trim();
    let path = sub
        .get_bin_name()
        .map(str::to_string)
        .unwrap_or_else(|| sub.get_name().to_string());
    format!(
        "Lỗi: {msg}\n\nCách dùng: {}\nXem hướng dẫn: {path} --help\n",
        vietnamese_usage(usage)
    )
}

/// The (sub)command a command line addresses: each word that names a subcommand of the
/// one reached so far goes one level down. clap's errors do not all say which command
/// they are about (a wrong value does not), and the clerk needs its usage and its help.
fn addressed(cmd: &Command, args: &[OsString]) -> Command {
    let mut cur = cmd;
    for a in args.iter().skip(1) {
        let Some(a) = a.to_str() else { continue };
        if a == "--" {
            break;
        }
        if a.starts_with('-') {
            continue;
        }
        if let Some(sub) = cur.find_subcommand(a) {
            if sub.get_name() != "help" {
                cur = sub;
            }
        }
    }
    cur.clone()
}

/// Why a value did not parse, in Vietnamese: numbers and addresses are known; our own
/// parsers already answer in Vietnamese.
fn why_invalid(e: &clap::Error) -> String {
    let Some(source) = std::error::Error::source(e) else {
        return "không đọc được".into();
    };
    if let Some(p) = source.downcast_ref::<std::num::ParseIntError>() {
        return match p.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "số quá lớn".into()
            }
            std::num::IntErrorKind::Empty => "cần một số".into(),
            _ => "cần một số nguyên không âm, chỉ gồm chữ số".into(),
        };
    }
    if source.downcast_ref::<std::net::AddrParseError>().is_some() {
        return "cần địa chỉ dạng IP:CỔNG, ví dụ 127.0.0.1:8080".into();
    }
    source.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, Subcommand, ValueEnum};

    /// Chương trình thử.
    #[derive(Debug, Parser)]
    #[command(name = "thu", version, about = "Chương trình thử")]
    struct Cli {
        /// Thư mục.
        #[arg(long, global = true, env = "THU_HOME", value_name = "THƯ_MỤC")]
        home: Option<String>,
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
    enum Kieu {
        /// Kiểu một.
        #[value(name = "nq96-2023")]
        Mot,
        /// Kiểu hai.
        #[value(name = "qd96-2023")]
        Hai,
    }

    #[derive(Debug, Subcommand)]
    enum Cmd {
        /// Tạo.
        Tao {
            /// Phiên.
            #[arg(value_name = "PHIÊN")]
            session: String,
            /// Kiểu.
            #[arg(long, value_name = "KIỂU")]
            profile: Kieu,
            /// Số.
            #[arg(long, default_value_t = 3, value_name = "SỐ")]
            total: u64,
            /// Một lần.
            #[arg(long, conflicts_with = "mai")]
            once: bool,
            /// Mãi.
            #[arg(long)]
            mai: bool,
        },
    }

    fn run(args: &[&str]) -> Result<Cli, Stop> {
        try_parse_from::<Cli, _, _>(std::iter::once("thu").chain(args.iter().copied()))
    }

    fn err(args: &[&str]) -> Stop {
        match run(args) {
            Ok(c) => panic!("parsed {c:?}"),
            Err(s) => s,
        }
    }

    fn no_english(t: &str) {
        for w in [
            "Usage:",
            "Options:",
            "Commands:",
            "Arguments:",
            "[OPTIONS]",
            "Print help",
            "Print version",
            "possible values",
            "default:",
            "[env:",
            "error:",
            "Print this message",
        ] {
            assert!(!t.contains(w), "«{w}» in:\n{t}");
        }
    }

    #[test]
    fn help_is_vietnamese_at_every_level() {
        for args in [
            &["--help"][..],
            &["-h"],
            &["tao", "--help"],
            &["help"],
            &["help", "tao"],
        ] {
            let s = err(args);
            assert_eq!((s.code, s.to_stderr), (0, false), "{args:?}");
            no_english(&s.text);
            assert!(s.text.contains("Cách dùng: thu"), "{}", s.text);
        }
        let root = err(&["--help"]).text;
        assert!(
            root.contains("Lệnh:") && root.contains("Tùy chọn:"),
            "{root}"
        );
        assert!(root.contains("Xem hướng dẫn") && root.contains("Xem số phiên bản"));
        assert!(root.contains("[biến môi trường: THU_HOME]"), "{root}");
        let sub = err(&["tao", "--help"]).text;
        assert!(sub.contains("Tham số:") && sub.contains("<PHIÊN>"), "{sub}");
        assert!(sub.contains("[TÙY CHỌN]"), "{sub}");
        assert!(sub.contains("[giá trị: nq96-2023, qd96-2023]"), "{sub}");
        assert!(sub.contains("[mặc định: 3]"), "{sub}");
        // No subcommand at all: the help, as a usage error.
        let s = err(&[]);
        assert_eq!((s.code, s.to_stderr), (2, true));
        no_english(&s.text);
    }

    #[test]
    fn usage_errors_are_vietnamese_and_exit_2() {
        let s = err(&["tao", "p", "--profile", "nq96"]);
        assert_eq!((s.code, s.to_stderr), (2, true));
        assert!(
            s.text
                .contains("giá trị «nq96» không hợp lệ; dùng một trong: nq96-2023, qd96-2023"),
            "{}",
            s.text
        );
        assert!(
            s.text.contains("Xem hướng dẫn: thu tao --help"),
            "{}",
            s.text
        );
        no_english(&s.text);

        let s = err(&["tao", "p", "--profile", "nq96-2023", "--profle"]);
        assert!(
            s.text.contains("không có tùy chọn «--profle»"),
            "{}",
            s.text
        );
        no_english(&s.text);
        let s = err(&["tao", "p", "--profile", "nq96-2023", "--total", "-3"]);
        assert!(s.text.contains("«-3»: số không được âm"), "{}", s.text);
        let s = err(&["tao", "p", "--profile", "nq96-2023", "--total", "ba"]);
        assert!(
            s.text
                .contains("--total <SỐ>: giá trị «ba» không hợp lệ: cần một số nguyên"),
            "{}",
            s.text
        );
        let s = err(&["tao", "p"]);
        assert!(
            s.text.contains("thiếu tham số bắt buộc: --profile <KIỂU>"),
            "{}",
            s.text
        );
        let s = err(&["tao", "p", "--profile", "nq96-2023", "--once", "--mai"]);
        assert!(
            s.text.contains("«--once» không dùng cùng «--mai»"),
            "{}",
            s.text
        );
        let s = err(&["tap"]);
        assert!(
            s.text.contains("không có lệnh «tap» (có phải ý là «tao»?)"),
            "{}",
            s.text
        );
        let s = err(&["tao", "p", "q", "--profile", "nq96-2023"]);
        assert!(s.text.contains("thừa tham số «q»"), "{}", s.text);
        for s in [err(&["tap"]), err(&["tao", "p"])] {
            assert_eq!(s.code, 2);
            no_english(&s.text);
        }
    }

    #[test]
    fn a_good_command_line_parses_as_before() {
        let c = run(&["tao", "p", "--profile", "qd96-2023", "--home", "/h"]).expect("parse");
        assert_eq!(c.home.as_deref(), Some("/h"));
        let Cmd::Tao {
            session,
            profile,
            total,
            ..
        } = c.command;
        assert_eq!((session.as_str(), profile, total), ("p", Kieu::Hai, 3));
        let v = err(&["--version"]);
        assert_eq!((v.code, v.to_stderr), (0, false));
        assert!(v.text.starts_with("thu "), "{}", v.text);
    }
}
