//! The `regmap` command-line tool: check, decode, dump and document maps.
//!
//! `regmap --help` lists the commands, `regmap help CMD` (or `regmap CMD
//! --help`) explains one. Exit status: 0 success; 1 a map or an input is
//! wrong (a map that does not load, `check` finding an error, an unknown
//! register, a missing or out-of-range index, a value that is not a
//! number, a file that cannot be read or written); 2 the command line is
//! wrong (unknown command or option, an argument missing or one too many).
//!
//! The arguments are parsed by hand from the table [`COMMANDS`]: every
//! command takes positional arguments only, so a parser crate would add
//! build time for no feature the table lacks.

use std::path::Path;
use std::process::ExitCode;

use regmap::decode::{self, Target};
use regmap::suggest;
use regmap::tables::{Table, Tables};

/// How many values a positional argument takes.
#[derive(Clone, Copy, PartialEq)]
enum Arity {
    /// Exactly one.
    One,
    /// Zero or one (only last, or before nothing but other optional ones).
    Optional,
    /// One or more (only last).
    Many,
}

/// A positional argument of a command.
struct Arg {
    /// Its name in the usage line (`MAP`).
    name: &'static str,
    /// What it is, for the error when it is missing.
    what: &'static str,
    arity: Arity,
}

/// A command: its arguments, one-line summary, detailed help and what
/// runs it (given the values of its arguments, checked against `args`).
struct Command {
    name: &'static str,
    args: &'static [Arg],
    summary: &'static str,
    help: &'static str,
    run: fn(&Values) -> Result<(), Failure>,
}

const fn one(name: &'static str, what: &'static str) -> Arg {
    Arg {
        name,
        what,
        arity: Arity::One,
    }
}

const MAP: Arg = one("MAP", "the map file, YAML");

const EXIT_STATUS: &str = "\
exit status:
  0  success
  1  a map or an input is wrong: a map that does not load, `check` finding an
     error, an unknown register or structure, a missing or out-of-range index,
     a value that is not a number, a file that cannot be read or written
  2  the command line is wrong: unknown command or option, an argument
     missing or one too many";

/// Every command, in the order `regmap --help` lists them.
const COMMANDS: &[Command] = &[
    Command {
        name: "check",
        args: &[Arg {
            name: "MAP",
            what: "the map file(s) to validate",
            arity: Arity::Many,
        }],
        summary: "validate maps; print every diagnostic",
        help: "\
Validates each MAP and prints every problem found (not only the first), as
`FILE:LINE:COL: error: MESSAGE` with the source line and a caret, or
`MAP: ok (N registers, N structures, N enums)`. Exits 1 when any map has an
error.

example:
  regmap check smmuv3-regs/smmuv3.yaml cmdqv-regs/cmdqv.yaml",
        run: |v| check(v.many(0)),
    },
    Command {
        name: "decode",
        args: &[
            MAP,
            one("REGISTER|STRUCT", "the register or structure to decode"),
            Arg {
                name: "VALUE",
                what: "the register's value, or the structure's 64-bit words",
                arity: Arity::Many,
            },
        ],
        summary: "every field of a register value or of a structure's words",
        help: "\
regmap decode MAP REGISTER VALUE shows every field of VALUE, with enum
names, and warns about reserved bits that are set and res1 bits that are
clear. regmap decode MAP STRUCT WORD... decodes a structure from its 64-bit
words, in order (missing trailing words read as 0); a structure that others
extend is shown as the most specific one whose fixed values match (a
command's opcode selects `CmdSync`).

REGISTER is the register's path: enclosing blocks, then its name, joined by
`.`. Every array on the path (a block or register with a `count`) takes its
index in brackets, and none may be left out: `VINTF[1].SID_MATCH[3]`.
Names match in any case (`vintf[1].sid_match[3]`) when no name matches
exactly; an unknown name is reported with the closest ones.
VALUE and WORD are decimal or 0x hex, `_` separators allowed.

examples:
  regmap decode smmuv3-regs/smmuv3.yaml CR0 0xd
  regmap decode cmdqv-regs/cmdqv.yaml 'VINTF[1].SID_MATCH[3]' 0x21
  regmap decode smmuv3-regs/smmuv3.yaml STE 0x9 0x0",
        run: |v| decode(v.one(0), v.one(1), v.many(2)),
    },
    Command {
        name: "dump",
        args: &[MAP],
        summary: "the elaborated model as JSON (schema in FORMAT.md)",
        help: "\
Prints the map after elaboration (offsets resolved, arrays and aliases
expanded) as JSON. The schema is stable and documented in FORMAT.md.

example:
  regmap dump cmdqv-regs/cmdqv.yaml > cmdqv.json",
        run: dump,
    },
    Command {
        name: "doc",
        args: &[MAP],
        summary: "a Markdown reference of the map",
        help: "\
Prints a Markdown reference of the map: every register with a bit diagram
and its fields, every structure and enum.

example:
  regmap doc smmuv3-regs/smmuv3.yaml > smmuv3.md",
        run: doc,
    },
    Command {
        name: "export-tables",
        args: &[MAP, one("DIR", "the directory to write the tables to")],
        summary: "write the register tables (CSV files) into DIR",
        help: "\
Writes the map's register tables as CSV into DIR (created if needed):
blocks.csv, registers.csv, fields.csv and enums.csv. FORMAT.md describes
the columns; `regmap import` reads them back.

example:
  regmap export-tables smmuv3-regs/smmuv3.yaml tables/",
        run: |v| export_tables(v.one(0), v.one(1)),
    },
    Command {
        name: "import",
        args: &[
            MAP,
            one("DIR", "the directory holding the CSV tables"),
            Arg {
                name: "OUT",
                what: "where to write the updated map",
                arity: Arity::Optional,
            },
        ],
        summary: "update MAP from the tables in DIR, into OUT (default MAP)",
        help: "\
Builds or updates MAP from the CSV tables in DIR, prints every change at the
table row that caused it (`FILE:LINE: what`), checks the result and writes
it to OUT (default: MAP itself). Nothing is written when the result does not
check. To start a map from tables, give a map with only its `device:`.

example:
  regmap import smmuv3-regs/smmuv3.yaml tables/ new.yaml",
        run: |v| import(v.one(0), v.one(1), v.opt(2)),
    },
    Command {
        name: "svd",
        args: &[
            MAP,
            Arg {
                name: "BASE",
                what: "the device's base address",
                arity: Arity::Optional,
            },
        ],
        summary: "a CMSIS-SVD file of the device, windows at BASE (default 0)",
        help: "\
Prints a CMSIS-SVD 1.3 description of the device: one peripheral per
window, at BASE (decimal or 0x hex, default 0) plus the window's offset.
FORMAT.md says what survives the conversion.

example:
  regmap svd cmdqv-regs/cmdqv.yaml 0x40000000 > cmdqv.svd",
        run: svd,
    },
    Command {
        name: "help",
        args: &[Arg {
            name: "COMMAND",
            what: "the command to explain",
            arity: Arity::Optional,
        }],
        summary: "this list, or the help of COMMAND",
        help: "Prints the list of commands, or the detailed help of COMMAND.",
        run: help,
    },
];

/// Why a run failed; each kind has its exit status.
enum Failure {
    /// The command line is wrong (exit 2): the message, and the command it
    /// is about when known (its usage line is printed under the message).
    Usage(Option<&'static Command>, String),
    /// A map or an input is wrong (exit 1): the message, printed as is
    /// (empty when it was already printed, as `check`'s diagnostics are).
    Input(String),
}

impl From<String> for Failure {
    fn from(msg: String) -> Self {
        Failure::Input(msg)
    }
}

fn main() -> ExitCode {
    // `env::args` would panic on an argument that is not UTF-8.
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let result = match args {
        Ok(args) => run(&args),
        Err(bad) => Err(Failure::Usage(
            None,
            format!("argument `{}` is not UTF-8 text", bad.to_string_lossy()),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(msg)) => {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Usage(cmd, msg)) => {
            match cmd {
                Some(c) => {
                    eprintln!("regmap {}: {msg}", c.name);
                    eprintln!("usage: {}", usage_line(c));
                    eprintln!("run `regmap help {}` for details", c.name);
                }
                None => {
                    eprintln!("regmap: {msg}");
                    eprintln!("run `regmap --help` for the list of commands");
                }
            }
            ExitCode::from(2)
        }
    }
}

/// `MAP REGISTER|STRUCT VALUE...`: the arguments of a usage line.
fn synopsis(c: &Command) -> String {
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| match a.arity {
            Arity::One => a.name.to_string(),
            Arity::Optional => format!("[{}]", a.name),
            Arity::Many => format!("{}...", a.name),
        })
        .collect();
    args.join(" ")
}

/// `regmap decode MAP REGISTER|STRUCT VALUE...`
fn usage_line(c: &Command) -> String {
    format!("regmap {} {}", c.name, synopsis(c))
}

fn overview() -> String {
    let mut s = format!(
        "regmap {}: register maps checked, decoded, documented and converted\n\n\
         usage: regmap COMMAND ARGS...\n\
         \x20      regmap help COMMAND   (or regmap COMMAND --help)\n\
         \x20      regmap --version\n\ncommands:\n",
        env!("CARGO_PKG_VERSION")
    );
    let synopses: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!("{} {}", c.name, synopsis(c)))
        .collect();
    let width = synopses.iter().map(String::len).max().unwrap_or(0);
    for (c, synopsis) in COMMANDS.iter().zip(&synopses) {
        s.push_str(&format!("  {synopsis:<width$}  {}\n", c.summary));
    }
    s.push('\n');
    s.push_str(EXIT_STATUS);
    s
}

fn command_help(c: &Command) -> String {
    let mut s = format!("usage: {}\n\n{}\n\narguments:\n", usage_line(c), c.help);
    for a in c.args {
        let note = match a.arity {
            Arity::One => "",
            Arity::Optional => " (optional)",
            Arity::Many => " (one or more)",
        };
        s.push_str(&format!("  {:<16} {}{note}\n", a.name, a.what));
    }
    s.push('\n');
    s.push_str(EXIT_STATUS);
    s
}

fn find_command(name: &str) -> Result<&'static Command, Failure> {
    COMMANDS.iter().find(|c| c.name == name).ok_or_else(|| {
        let hint =
            suggest::did_you_mean(&suggest::closest(name, COMMANDS.iter().map(|c| c.name), 2));
        Failure::Usage(None, format!("unknown command `{name}`{hint}"))
    })
}

/// A command line checked against its command's arguments.
enum Parsed {
    /// `--help` was given: print the command's help.
    Help,
    /// The values of each argument, in the order of [`Command::args`].
    Args(Vec<Vec<String>>),
}

/// Splits `rest` into the command's arguments, or says precisely what is
/// wrong. `--help`/`-h` anywhere asks for help; `--` ends the options (a
/// file named `-x` is given as `-- -x`).
fn parse(c: &'static Command, rest: &[String]) -> Result<Parsed, Failure> {
    let mut positional = Vec::new();
    let mut options_done = false;
    for a in rest {
        if options_done || a == "-" || !a.starts_with('-') {
            positional.push(a.clone());
        } else if a == "--" {
            options_done = true;
        } else if a == "--help" || a == "-h" {
            return Ok(Parsed::Help);
        } else {
            return Err(Failure::Usage(
                Some(c),
                format!("unknown option `{a}` (the only option is --help)"),
            ));
        }
    }
    let mut values = Vec::new();
    let mut it = positional.into_iter().peekable();
    for a in c.args {
        let v: Vec<String> = match a.arity {
            Arity::One | Arity::Many if it.peek().is_none() => {
                return Err(Failure::Usage(
                    Some(c),
                    format!("missing {} ({})", a.name, a.what),
                ));
            }
            Arity::One | Arity::Optional => it.next().into_iter().collect(),
            Arity::Many => it.by_ref().collect(),
        };
        values.push(v);
    }
    if let Some(extra) = it.next() {
        return Err(Failure::Usage(
            Some(c),
            format!(
                "unexpected argument `{extra}` ({} takes {})",
                c.name,
                synopsis(c)
            ),
        ));
    }
    Ok(Parsed::Args(values))
}

/// The values of a parsed command line, by argument position.
struct Values(Vec<Vec<String>>);

impl Values {
    /// The argument at `i` (`One`: always present once parsed).
    fn one(&self, i: usize) -> &str {
        self.opt(i).unwrap_or_default()
    }
    /// The optional argument at `i`.
    fn opt(&self, i: usize) -> Option<&str> {
        self.0.get(i).and_then(|v| v.first()).map(String::as_str)
    }
    /// Every value of the argument at `i`.
    fn many(&self, i: usize) -> &[String] {
        self.0.get(i).map_or(&[], Vec::as_slice)
    }
}

fn load(path: &str) -> Result<regmap::Device, String> {
    regmap::load_file(Path::new(path)).map_err(|d| d.render())
}

fn run(args: &[String]) -> Result<(), Failure> {
    let Some((first, rest)) = args.split_first() else {
        return Err(Failure::Usage(
            None,
            format!(
                "no command given (one of: {})",
                COMMANDS
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    match first.as_str() {
        "--version" | "-V" => {
            if let Some(extra) = rest.first() {
                return Err(Failure::Usage(
                    None,
                    format!("unexpected argument `{extra}` after --version"),
                ));
            }
            println!("regmap {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        "--help" | "-h" => {
            println!("{}", overview());
            return Ok(());
        }
        o if o.starts_with('-') => {
            return Err(Failure::Usage(
                None,
                format!("unknown option `{o}` (expected a command, --help or --version)"),
            ));
        }
        _ => {}
    }
    let cmd = find_command(first)?;
    let values = match parse(cmd, rest)? {
        Parsed::Help => {
            println!("{}", command_help(cmd));
            return Ok(());
        }
        Parsed::Args(v) => Values(v),
    };
    (cmd.run)(&values)
}

fn help(v: &Values) -> Result<(), Failure> {
    match v.opt(0) {
        None => println!("{}", overview()),
        Some(name) => println!("{}", command_help(find_command(name)?)),
    }
    Ok(())
}

fn dump(v: &Values) -> Result<(), Failure> {
    let dev = load(v.one(0))?;
    let json =
        serde_json::to_string_pretty(&regmap::dump::to_json(&dev)).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(())
}

fn doc(v: &Values) -> Result<(), Failure> {
    let dev = load(v.one(0))?;
    print!("{}", regmap::doc::to_markdown(&dev));
    Ok(())
}

fn svd(v: &Values) -> Result<(), Failure> {
    let dev = load(v.one(0))?;
    let base = match v.opt(1) {
        None => 0,
        Some(b) => decode::parse_value(b)
            .ok_or_else(|| format!("`{b}` is not an address (decimal or 0x hex)"))?,
    };
    print!("{}", regmap::svd::to_svd(&dev, base)?);
    Ok(())
}

fn check(maps: &[String]) -> Result<(), Failure> {
    let mut failed = false;
    for m in maps {
        match regmap::load_file(Path::new(m)) {
            Ok(dev) => println!(
                "{m}: ok ({} registers, {} structures, {} enums)",
                dev.registers.len(),
                dev.structs.len(),
                dev.enums.len()
            ),
            Err(d) => {
                failed = true;
                eprint!("{}", d.render());
                eprintln!("{m}: {} error(s)", d.items.len());
            }
        }
    }
    if failed {
        Err(Failure::Input(String::new()))
    } else {
        Ok(())
    }
}

fn decode(map: &str, sel: &str, values: &[String]) -> Result<(), Failure> {
    let dev = load(map)?;
    let nums = values
        .iter()
        .map(|v| {
            decode::parse_value(v)
                .ok_or_else(|| format!("`{v}` is not a number (decimal or 0x hex)"))
        })
        .collect::<Result<Vec<u64>, String>>()?;
    let text = match decode::select(&dev, sel)? {
        Target::Register {
            reg,
            indices,
            offset,
        } => {
            if nums.len() != 1 {
                return Err(format!(
                    "{} is a register: give one value ({} given)",
                    reg.path(),
                    nums.len()
                )
                .into());
            }
            decode::decode_register(&dev, reg, &indices, offset, nums[0])?
        }
        Target::Struct(s) => decode::decode_struct(&dev, s, &nums)?,
    };
    print!("{text}");
    Ok(())
}

fn export_tables(map: &str, dir: &str) -> Result<(), Failure> {
    let dev = load(map)?;
    let tables = regmap::tables::export::export(&dev);
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for t in Table::ALL {
        let path = dir.join(t.file_name());
        std::fs::write(&path, tables.to_csv(t)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!(
        "{}: {} blocks, {} registers, {} fields, {} enum values",
        dir.display(),
        tables.blocks.len(),
        tables.registers.len(),
        tables.fields.len(),
        tables.enums.len()
    );
    Ok(())
}

fn import(map: &str, dir: &str, out: Option<&str>) -> Result<(), Failure> {
    let text = std::fs::read_to_string(map).map_err(|e| format!("{map}: {e}"))?;
    let tables = Tables::read_dir(Path::new(dir)).map_err(|p| p.render())?;
    let done = regmap::tables::import::import(map, &text, &tables).map_err(|p| p.render())?;
    for c in &done.changes {
        println!("{c}");
    }
    for n in &done.notes {
        println!("note: {n}");
    }
    let out = out.unwrap_or(map);
    std::fs::write(out, &done.text).map_err(|e| format!("{out}: {e}"))?;
    println!(
        "{out}: {} change(s); ok ({} registers, {} structures, {} enums)",
        done.changes.len(),
        done.device.registers.len(),
        done.device.structs.len(),
        done.device.enums.len()
    );
    Ok(())
}
