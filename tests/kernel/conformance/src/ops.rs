//! The operations every case is written against, independent of which
//! backend answers them: the raw kernel uAPI, the project's real iommufd
//! backend, or its simulator. Each method is one iommufd request (or one
//! mmap/read on an iommufd-provided file) and returns the kernel's answer:
//! the values it hands back, or the errno.

use std::fmt;

/// An errno as the kernel returns it (positive).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Errno(pub i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::EIO => "EIO",
            libc::ENXIO => "ENXIO",
            libc::EBADF => "EBADF",
            libc::EAGAIN => "EAGAIN",
            libc::ENOMEM => "ENOMEM",
            libc::EACCES => "EACCES",
            libc::EFAULT => "EFAULT",
            libc::EBUSY => "EBUSY",
            libc::EEXIST => "EEXIST",
            libc::ENODEV => "ENODEV",
            libc::EINVAL => "EINVAL",
            libc::ENOSPC => "ENOSPC",
            libc::ESPIPE => "ESPIPE",
            libc::ERANGE => "ERANGE",
            libc::ENOTTY => "ENOTTY",
            libc::EOVERFLOW => "EOVERFLOW",
            libc::EOPNOTSUPP => "EOPNOTSUPP",
            libc::ENOSYS => "ENOSYS",
            libc::E2BIG => "E2BIG",
            _ => return write!(f, "errno{}", self.0),
        };
        f.write_str(name)
    }
}

/// A request's answer.
pub type Res<T> = Result<T, Errno>;

/// The ids `IOMMU_TEST_OP_MOCK_DOMAIN` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MockDevice {
    /// The selftest device object (destroying it unplugs the device).
    pub stdev: u32,
    /// The paging domain the device was attached to.
    pub hwpt: u32,
    /// The bound device (`dev_id` of HWPT/vIOMMU/vDEVICE allocation).
    pub idev: u32,
}

/// What the selftest vIOMMU type writes back into its driver data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViommuOut {
    /// Echo of `in_data` (`None`: the backend did not report it).
    pub out_data: Option<u32>,
    /// Offset to pass to mmap on the iommufd.
    pub mmap_offset: u64,
    /// Length to pass to mmap on the iommufd.
    pub mmap_length: u64,
}

/// One record read from a vEVENTQ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VEvent {
    /// Header flags (bit 0: events were lost before this point).
    pub flags: u32,
    /// Header sequence number.
    pub sequence: u32,
    /// Payload (empty for the lost-events marker).
    pub data: Vec<u8>,
}

/// Size of `struct iommufd_vevent_header`.
pub const VEVENT_HDR: usize = 8;

/// Splits what a read(2) of a vEVENTQ returned into records whose payloads
/// are `record_len` bytes (the lost-events marker has none).
pub fn parse_vevents(bytes: &[u8], record_len: usize) -> Vec<VEvent> {
    let word = |at: usize| {
        bytes
            .get(at..at + 4)
            .map_or(0, |w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at + VEVENT_HDR <= bytes.len() {
        let flags = word(at);
        let sequence = word(at + 4);
        at += VEVENT_HDR;
        let len = if flags & 1 != 0 { 0 } else { record_len };
        let end = (at + len).min(bytes.len());
        out.push(VEvent {
            flags,
            sequence,
            data: bytes[at..end].to_vec(),
        });
        at = end;
    }
    out
}

/// The iommufd requests the differential cases use: exactly what
/// `vdev::backend::Backend` offers, so each case runs unchanged on the raw
/// kernel, the project's real backend and its simulator.
pub trait Iommu {
    /// `IOMMU_IOAS_ALLOC`.
    fn ioas_alloc(&mut self) -> Res<u32>;
    /// `IOMMU_IOAS_MAP` at a fixed IOVA, read-write, of fresh memory the
    /// backend owns.
    fn ioas_map_fixed(&mut self, ioas: u32, iova: u64, length: u64) -> Res<()>;
    /// `IOMMU_IOAS_UNMAP` of exactly `[iova, iova + length)`.
    fn ioas_unmap(&mut self, ioas: u32, iova: u64, length: u64) -> Res<()>;
    /// `IOMMU_TEST_OP_MOCK_DOMAIN` on an IOAS.
    fn mock_domain(&mut self, ioas: u32) -> Res<MockDevice>;
    /// `IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE`: attach the mock device to `pt`
    /// (an IOAS or HWPT). The mock delivers vEVENTs only for a device
    /// attached to a nested domain of the vIOMMU.
    fn mock_domain_replace(&mut self, stdev: u32, pt: u32) -> Res<()>;
    /// `IOMMU_HWPT_ALLOC` of a nesting parent on an IOAS.
    fn hwpt_alloc_nest_parent(&mut self, dev: u32, ioas: u32) -> Res<u32>;
    /// `IOMMU_HWPT_ALLOC` of a nested domain on `pt` (a vIOMMU, or any id
    /// on purpose) with driver data of `data_type`.
    fn hwpt_alloc_nested(&mut self, dev: u32, pt: u32, data_type: u32, data: &[u8]) -> Res<u32>;
    /// `IOMMU_GET_HW_INFO`, with `IOMMU_HW_INFO_FLAG_INPUT_TYPE` when a type
    /// is given: the info type and the selftest `test_reg`.
    fn get_hw_info(&mut self, dev: u32, input_type: Option<u32>) -> Res<(u32, u32)>;
    /// `IOMMU_VIOMMU_ALLOC`; with `Some(in_data)` the selftest data is
    /// passed and its output returned.
    fn viommu_alloc(
        &mut self,
        dev: u32,
        hwpt: u32,
        viommu_type: u32,
        in_data: Option<u32>,
    ) -> Res<(u32, Option<ViommuOut>)>;
    /// mmap(MAP_SHARED, read-write) of the iommufd at `offset`; returns a
    /// handle for [`Iommu::mmap_read_u32`] and [`Iommu::munmap`].
    fn mmap(&mut self, offset: u64, length: u64) -> Res<u64>;
    /// Reads the 32-bit word at `at` bytes into a mapping.
    fn mmap_read_u32(&mut self, handle: u64, at: u64) -> Res<u32>;
    /// munmap of a mapping made by [`Iommu::mmap`].
    fn munmap(&mut self, handle: u64) -> Res<()>;
    /// `IOMMU_VDEVICE_ALLOC`.
    fn vdevice_alloc(&mut self, viommu: u32, dev: u32, virt_id: u64) -> Res<u32>;
    /// `IOMMU_HW_QUEUE_ALLOC`.
    fn hw_queue_alloc(
        &mut self,
        viommu: u32,
        queue_type: u32,
        index: u32,
        iova: u64,
        length: u64,
    ) -> Res<u32>;
    /// `IOMMU_VEVENTQ_ALLOC`; returns the object id.
    fn veventq_alloc(&mut self, viommu: u32, veventq_type: u32, depth: u32) -> Res<u32>;
    /// Reads every pending vEVENT of a vEVENTQ without blocking.
    fn veventq_read(&mut self, veventq: u32) -> Res<Vec<VEvent>>;
    /// `IOMMU_TEST_OP_TRIGGER_VEVENT` for a device.
    fn trigger_vevent(&mut self, dev: u32) -> Res<()>;
    /// `IOMMU_HWPT_INVALIDATE` on `id` with `entries.len() / entry_len`
    /// entries; returns the errno (if any) and the number of entries the
    /// kernel handled.
    fn invalidate(
        &mut self,
        id: u32,
        data_type: u32,
        entry_len: u32,
        entries: &[u8],
    ) -> (Res<()>, u32);
    /// `IOMMU_DESTROY`.
    fn destroy(&mut self, id: u32) -> Res<()>;
}
