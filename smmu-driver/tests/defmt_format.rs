//! The `defmt::Format` impls (the driver's errors, regmap-rt's
//! `AccessError`, generated register values, structures and enums) run
//! through defmt's real encoder into a capturing global logger, linked
//! into a host binary. defmt is built with `encoding-raw` for this test (a
//! dev-dependency feature), so each frame is the interned indices
//! followed by the arguments' bytes as the impls wrote them: strings as a
//! length and their bytes, integers little-endian. Without a decoder the
//! test still checks what each impl put on the wire: the names and the
//! field values it must carry, and that a changed field changes exactly
//! the bytes of that field.
//!
//! Run with `cargo test -p smmu-driver --features defmt --test defmt_format`
//! (CI does); the target requires the feature.

use std::sync::Mutex;

use regmap_rt::regfile::AccessError;
use regmap_rt::{Layout, Value, Words};
use smmu_driver::smmuv3_regs::structs::CmdCfgiSte;
use smmu_driver::smmuv3_regs::{enums, CR0};
use smmu_driver::{cmd, CmdError, CommandFault, Error};

/// Encoded bytes of the frames logged since the last [`encoded`].
static BYTES: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// The encoder of the one logging context (frames never overlap: every
/// capture holds [`SERIAL`]).
static ENCODER: Mutex<defmt::Encoder> = Mutex::new(defmt::Encoder::new());
/// Serialises captures across the harness's test threads.
static SERIAL: Mutex<()> = Mutex::new(());

#[defmt::global_logger]
struct Capture;

// SAFETY: frames are serialised by SERIAL (held by every caller of a
// logging macro in this binary), so acquire/release pair up.
unsafe impl defmt::Logger for Capture {
    fn acquire() {
        ENCODER
            .lock()
            .unwrap()
            .start_frame(|b| BYTES.lock().unwrap().extend_from_slice(b));
    }
    unsafe fn flush() {}
    unsafe fn release() {
        ENCODER
            .lock()
            .unwrap()
            .end_frame(|b| BYTES.lock().unwrap().extend_from_slice(b));
    }
    unsafe fn write(bytes: &[u8]) {
        ENCODER
            .lock()
            .unwrap()
            .write(bytes, |b| BYTES.lock().unwrap().extend_from_slice(b));
    }
}

// No timestamp in the frames (the embedded linker script's default is not
// linked on the host).
defmt::timestamp!("");

/// The bytes `log` sends through the logger.
fn encoded(log: impl FnOnce()) -> Vec<u8> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    BYTES.lock().unwrap().clear();
    log();
    std::mem::take(&mut *BYTES.lock().unwrap())
}

/// Encodes `v` as the one argument of a `println!` frame.
fn frame<T: defmt::Format>(v: &T) -> Vec<u8> {
    encoded(|| defmt::println!("{}", v))
}

/// Whether `hay` contains `needle`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Positions where two equally long frames differ.
fn diff(a: &[u8], b: &[u8]) -> Vec<usize> {
    assert_eq!(a.len(), b.len(), "frames of different lengths");
    (0..a.len()).filter(|&i| a[i] != b[i]).collect()
}

#[test]
fn register_value_names_every_field_and_carries_its_value() {
    type Cr0 = Value<CR0::Register>;
    let off = frame(&Cr0::new(0));
    let on = frame(&Cr0::new(0).with(CR0::SMMUEN::SET));
    assert!(!off.is_empty());
    let name = <CR0::Register as Layout>::NAME;
    assert!(contains(&off, name.as_bytes()), "register name missing");
    for (name, _, _) in <CR0::Register as Layout>::FIELDS {
        assert!(contains(&off, name.as_bytes()), "field {name} missing");
    }
    // SMMUEN's u64 changes from 0 to 1; nothing else moves.
    let d = diff(&off, &on);
    assert_eq!(d.len(), 1, "{off:02x?}\n{on:02x?}");
    assert_eq!((off[d[0]], on[d[0]]), (0, 1));
    // A wide field's value appears whole, little-endian.
    let eventq = frame(&Cr0::new(0).with(CR0::EVENTQEN::SET + CR0::CMDQEN::SET));
    assert_eq!(diff(&off, &eventq).len(), 2);
    assert_eq!(frame(&Cr0::new(0)), off, "encoding is not deterministic");
}

#[test]
fn structure_carries_its_fields() {
    let ste = |sid| CmdCfgiSte::new().with(CmdCfgiSte::SID, sid);
    let bytes = frame(&ste(0x00ab_cdef));
    for (name, _) in CmdCfgiSte::FIELDS {
        assert!(contains(&bytes, name.as_bytes()), "field {name} missing");
    }
    assert!(contains(&bytes, &0x00ab_cdefu64.to_le_bytes()));
    assert_eq!(diff(&bytes, &frame(&ste(0x00ab_cdee))).len(), 1);
    // The family's common view (what the driver queues) shows the opcode.
    let c = frame(&cmd::cfgi_ste(1, true));
    let opcode = ste(1).get(CmdCfgiSte::OPCODE);
    assert!(contains(&c, b"OPCODE"));
    assert!(contains(&c, &opcode.to_le_bytes()));
}

#[test]
fn driver_errors_carry_their_payloads() {
    let timeout = frame(&Error::Timeout("command queue consumption"));
    assert!(contains(&timeout, b"command queue consumption"));
    let a = frame(&Error::Command(CmdError::Other(0x55)));
    let b = frame(&Error::Command(CmdError::Other(0x56)));
    let d = diff(&a, &b);
    assert_eq!(d.len(), 1);
    assert_eq!((a[d[0]], b[d[0]]), (0x55, 0x56));
    // Variants are told apart by their discriminant.
    assert_ne!(frame(&Error::QueueFull), frame(&CmdError::Ill));
    assert_ne!(frame(&CmdError::Ill), frame(&CmdError::Abt));
    let fault = CommandFault {
        error: CmdError::Ill,
        slot: 0x1234_5678,
        opcode: 0x7f,
    };
    let f = frame(&fault);
    assert!(contains(&f, &0x1234_5678u32.to_le_bytes()));
    assert!(contains(&f, &[0x7f]));
}

#[test]
fn access_errors_and_generated_enums_are_distinct() {
    let all = [
        AccessError::Unmapped,
        AccessError::BadSize,
        AccessError::Unaligned,
        AccessError::Straddle,
        AccessError::AliasUnmapped,
        AccessError::BadIndex,
    ];
    let frames: Vec<Vec<u8>> = all.iter().map(frame).collect();
    for (i, a) in frames.iter().enumerate() {
        assert!(!a.is_empty());
        for b in &frames[i + 1..] {
            assert_ne!(a, b, "two AccessError variants encode alike");
        }
    }
    assert_ne!(
        frame(&enums::CmdError::CERROR_ILL),
        frame(&enums::CmdError::CERROR_ABT)
    );
}
