//! Driver errors.

/// Command queue error codes (CMDQ_CONS.ERR / VCMDQ_CONS.ERR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CmdError {
    /// CERROR_NONE (0): no error recorded.
    None,
    /// CERROR_ILL (1): illegal or unsupported command.
    Ill,
    /// CERROR_ABT (2): abort while fetching a command.
    Abt,
    /// CERROR_ATC_INV_SYNC (3): an ATC invalidation did not complete.
    AtcInvSync,
    /// Any other (reserved or implementation-defined) code.
    Other(u8),
}

impl CmdError {
    /// Decodes a 7-bit ERR field (CMDQ_CONS.ERR or VCMDQ_CONS.ERR) through
    /// the map's enum of command errors.
    pub fn from_code(code: u32) -> CmdError {
        use smmuv3_regs::enums::CmdError as E;
        match E::from_value(u64::from(code)) {
            Some(E::CERROR_NONE) => CmdError::None,
            Some(E::CERROR_ILL) => CmdError::Ill,
            Some(E::CERROR_ABT) => CmdError::Abt,
            Some(E::CERROR_ATC_INV_SYNC) => CmdError::AtcInvSync,
            None => CmdError::Other(
                smmuv3_regs::CMDQ_CONS::ERR.read(code << smmuv3_regs::CMDQ_CONS::ERR.shift) as u8,
            ),
        }
    }

    /// The ERR field value ([`CmdError::from_code`] inverted).
    pub fn code(self) -> u64 {
        use smmuv3_regs::enums::CmdError as E;
        match self {
            CmdError::None => E::CERROR_NONE.value(),
            CmdError::Ill => E::CERROR_ILL.value(),
            CmdError::Abt => E::CERROR_ABT.value(),
            CmdError::AtcInvSync => E::CERROR_ATC_INV_SYNC.value(),
            CmdError::Other(c) => c.into(),
        }
    }
}

/// A command the SMMU refused, as found by error recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommandFault {
    /// Why processing stopped.
    pub error: CmdError,
    /// Queue slot of the refused command.
    pub slot: u32,
    /// The refused command's opcode.
    pub opcode: u8,
}

/// Everything that can go wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The registers do not describe a device this driver supports.
    Unsupported(&'static str),
    /// A buffer is too small or misaligned, or a size is out of range.
    BadBuffer(&'static str),
    /// An argument is outside what the device or the configuration allows.
    OutOfRange(&'static str),
    /// A queue or table was used before being set up.
    NotConfigured(&'static str),
    /// An acknowledgement or completion did not arrive within the polling bound.
    Timeout(&'static str),
    /// The command queue stopped on an error (recover with
    /// `recover_command_error`).
    Command(CmdError),
    /// The command queue has no room and the device is not consuming.
    QueueFull,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Unsupported(s) => write!(f, "unsupported: {s}"),
            Error::BadBuffer(s) => write!(f, "bad buffer: {s}"),
            Error::OutOfRange(s) => write!(f, "out of range: {s}"),
            Error::NotConfigured(s) => write!(f, "not configured: {s}"),
            Error::Timeout(s) => write!(f, "timeout: {s}"),
            Error::Command(e) => write!(f, "command queue error {e:?}"),
            Error::QueueFull => write!(f, "command queue full"),
        }
    }
}
