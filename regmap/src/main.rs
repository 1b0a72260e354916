//! The `regmap` command-line tool: check, decode, dump and document maps.

use std::path::Path;
use std::process::ExitCode;

use regmap::decode::{self, Target};
use regmap::tables::{Table, Tables};

const USAGE: &str = "\
usage: regmap <command> ...
  check MAP...                     validate maps; print every diagnostic; exit 1 on any error
  decode MAP REGISTER[IDX] VALUE   show every field of VALUE (e.g. VINTF[1].SID_MATCH[3] 0x21)
  decode MAP STRUCT WORD...        decode a structure from its 64-bit words, in order
  dump MAP                         the elaborated model as JSON (schema in FORMAT.md)
  doc MAP                          a Markdown reference of the map
  export-tables MAP DIR            write DIR/{blocks,registers,fields,enums}.csv (register tables)
  import MAP DIR [OUT]             update MAP from the tables in DIR; print every change; write OUT (default MAP)
  svd MAP [BASE]                   a CMSIS-SVD file of the device, windows at BASE + their offsets (default 0)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            ExitCode::FAILURE
        }
    }
}

fn load(path: &str) -> Result<regmap::Device, String> {
    regmap::load_file(Path::new(path)).map_err(|d| d.render())
}

fn run(args: &[String]) -> Result<(), String> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(USAGE.into());
    };
    match (cmd.as_str(), rest) {
        ("check", maps) if !maps.is_empty() => {
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
                Err(String::new())
            } else {
                Ok(())
            }
        }
        ("decode", [map, sel, values @ ..]) if !values.is_empty() => {
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
                        return Err(format!("{} is a register: give one value", reg.path()));
                    }
                    decode::decode_register(&dev, reg, &indices, offset, nums[0])?
                }
                Target::Struct(s) => decode::decode_struct(&dev, s, &nums)?,
            };
            print!("{text}");
            Ok(())
        }
        ("dump", [map]) => {
            let dev = load(map)?;
            let json = serde_json::to_string_pretty(&regmap::dump::to_json(&dev))
                .map_err(|e| e.to_string())?;
            println!("{json}");
            Ok(())
        }
        ("doc", [map]) => {
            let dev = load(map)?;
            print!("{}", regmap::doc::to_markdown(&dev));
            Ok(())
        }
        ("export-tables", [map, dir]) => {
            let dev = load(map)?;
            let tables = regmap::tables::export::export(&dev);
            let dir = Path::new(dir);
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for t in Table::ALL {
                let path = dir.join(t.file_name());
                std::fs::write(&path, tables.to_csv(t))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
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
        ("import", [map, dir, out @ ..]) if out.len() <= 1 => {
            let text = std::fs::read_to_string(map).map_err(|e| format!("{map}: {e}"))?;
            let tables = Tables::read_dir(Path::new(dir)).map_err(|p| p.render())?;
            let done =
                regmap::tables::import::import(map, &text, &tables).map_err(|p| p.render())?;
            for c in &done.changes {
                println!("{c}");
            }
            for n in &done.notes {
                println!("note: {n}");
            }
            let out = out.first().unwrap_or(map);
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
        ("svd", [map, base @ ..]) if base.len() <= 1 => {
            let dev = load(map)?;
            let base = match base.first() {
                None => 0,
                Some(b) => decode::parse_value(b)
                    .ok_or_else(|| format!("`{b}` is not an address (decimal or 0x hex)"))?,
            };
            print!("{}", regmap::svd::to_svd(&dev, base)?);
            Ok(())
        }
        ("help" | "--help" | "-h", _) => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}
