//! A case's context: one fresh backend — the raw kernel uAPI ([`crate::raw`],
//! the reference), the project's real iommufd backend, or its simulator —
//! seen through `vdev::backend::Selftest`, plus the memory the case maps into
//! it. Every case is written once against [`Ctx`] and runs unchanged on all
//! three. Each method is one iommufd request (or one mmap/read on an
//! iommufd-provided file) and returns the kernel's answer: the values it
//! hands back, or the errno. The context only translates types and owns
//! memory; every request goes to the backend as is.

use std::collections::HashMap;
use std::fmt;

use vdev::backend::{HwInfoQuery, MappedRegion, Selftest, VEvent, ViommuDataIn};

/// An errno as the kernel returns it (positive).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Errno(pub i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match vdev::backend::errno_name(self.0) {
            "E?" => write!(f, "errno{}", self.0),
            name => f.write_str(name),
        }
    }
}

/// A request's answer.
pub type Res<T> = Result<T, Errno>;

/// The errno of a backend's answer.
fn errno(e: vdev::backend::Error) -> Errno {
    Errno(e.errno())
}

/// The ids `IOMMU_TEST_OP_MOCK_DOMAIN` returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

/// Anonymous memory handed to `ioas_map` (the real backends map this
/// process's memory; the simulator ignores the address). Kept until the
/// backend is gone because the kernel pins it.
pub struct Buffer {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Buffer {
    /// `len` bytes (at least one) of fresh private anonymous memory.
    pub fn new(len: usize) -> Res<Self> {
        let len = len.max(1);
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Errno(
                std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::ENOMEM),
            ));
        }
        Ok(Buffer { ptr, len })
    }

    /// Its address, as `IOMMU_IOAS_MAP`'s `user_va`.
    pub fn user_va(&self) -> u64 {
        self.ptr as u64
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from a successful mmap and are unmapped once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// One backend context and what the case mapped into it.
pub struct Ctx<B: ?Sized + Selftest = dyn Selftest> {
    // Mappings go before the backend (they may refer to its fd), buffers
    // after it (the kernel pins them until the fd closes).
    mappings: HashMap<u64, Box<dyn MappedRegion>>,
    next_handle: u64,
    backend: Box<B>,
    buffers: Vec<Buffer>,
}

impl<B: ?Sized + Selftest> Ctx<B> {
    /// A context over a fresh backend (one iommufd, or one simulated kernel).
    pub fn new(backend: Box<B>) -> Self {
        Self {
            mappings: HashMap::new(),
            next_handle: 1,
            backend,
            buffers: Vec::new(),
        }
    }

    /// The backend, for requests the context does not offer.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// `IOMMU_IOAS_ALLOC`.
    pub fn ioas_alloc(&mut self) -> Res<u32> {
        self.backend.ioas_alloc().map_err(errno)
    }

    /// `IOMMU_IOAS_MAP` at a fixed IOVA, read-write, of fresh memory the
    /// context owns.
    pub fn ioas_map_fixed(&mut self, ioas: u32, iova: u64, length: u64) -> Res<()> {
        let len = usize::try_from(length).map_err(|_| Errno(libc::EOVERFLOW))?;
        let buf = Buffer::new(len)?;
        let user_va = buf.user_va();
        self.buffers.push(buf);
        self.backend
            .ioas_map(ioas, iova, length, user_va)
            .map_err(errno)
    }

    /// `IOMMU_IOAS_UNMAP` of exactly `[iova, iova + length)`.
    pub fn ioas_unmap(&mut self, ioas: u32, iova: u64, length: u64) -> Res<()> {
        self.backend.ioas_unmap(ioas, iova, length).map_err(errno)
    }

    /// `IOMMU_TEST_OP_MOCK_DOMAIN` on an IOAS.
    pub fn mock_domain(&mut self, ioas: u32) -> Res<MockDevice> {
        let m = self.backend.mock_domain(ioas).map_err(errno)?;
        Ok(MockDevice {
            stdev: m.stdev_id,
            hwpt: m.hwpt_id,
            idev: m.idev_id,
        })
    }

    /// `IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE`: attach the mock device to `pt`
    /// (an IOAS or HWPT). The mock delivers vEVENTs only for a device
    /// attached to a nested domain of the vIOMMU.
    pub fn mock_domain_replace(&mut self, stdev: u32, pt: u32) -> Res<()> {
        self.backend.mock_domain_replace(stdev, pt).map_err(errno)
    }

    /// `IOMMU_HWPT_ALLOC` of a nesting parent on an IOAS.
    pub fn hwpt_alloc_nest_parent(&mut self, dev: u32, ioas: u32) -> Res<u32> {
        self.backend
            .hwpt_alloc_nest_parent(dev, ioas)
            .map_err(errno)
    }

    /// `IOMMU_HWPT_ALLOC` of a nested domain on `pt` (a vIOMMU, or any id
    /// on purpose) with driver data of `data_type`.
    pub fn hwpt_alloc_nested(
        &mut self,
        dev: u32,
        pt: u32,
        data_type: u32,
        data: &[u8],
    ) -> Res<u32> {
        self.backend
            .hwpt_alloc_nested(dev, pt, data_type, data)
            .map_err(errno)
    }

    /// `IOMMU_GET_HW_INFO`, with `IOMMU_HW_INFO_FLAG_INPUT_TYPE` when a type
    /// is given: the info type and the selftest `test_reg`.
    pub fn get_hw_info(&mut self, dev: u32, input_type: Option<u32>) -> Res<(u32, u32)> {
        let query = input_type.map_or(HwInfoQuery::Default, HwInfoQuery::Type);
        let info = self.backend.get_hw_info(dev, query).map_err(errno)?;
        // struct iommu_test_hw_info { flags, test_reg }: the word at 4,
        // read whatever the type.
        let reg = info
            .data
            .get(4..8)
            .map_or(0, |w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        Ok((info.data_type, reg))
    }

    /// `IOMMU_VIOMMU_ALLOC`; with `Some(in_data)` the selftest data is
    /// passed and its output returned.
    pub fn viommu_alloc(
        &mut self,
        dev: u32,
        hwpt: u32,
        viommu_type: u32,
        in_data: Option<u32>,
    ) -> Res<(u32, Option<ViommuOut>)> {
        let data = in_data.map_or(ViommuDataIn::None, |in_data| ViommuDataIn::Selftest {
            in_data,
        });
        let out = self
            .backend
            .viommu_alloc(dev, hwpt, viommu_type, data)
            .map_err(errno)?;
        let extra = in_data.map(|_| ViommuOut {
            out_data: out.out_data,
            mmap_offset: out.mmap_offset,
            mmap_length: out.mmap_length,
        });
        Ok((out.viommu_id, extra))
    }

    /// mmap(MAP_SHARED, read-write) of the iommufd at `offset`; returns a
    /// handle for [`Ctx::mmap_read_u32`] and [`Ctx::munmap`].
    pub fn mmap(&mut self, offset: u64, length: u64) -> Res<u64> {
        let region = self.backend.mmap(offset, length).map_err(errno)?;
        let handle = self.next_handle;
        self.next_handle += 1;
        self.mappings.insert(handle, region);
        Ok(handle)
    }

    /// Reads the 32-bit word at `at` bytes into a mapping.
    pub fn mmap_read_u32(&mut self, handle: u64, at: u64) -> Res<u32> {
        let region = self.mappings.get(&handle).ok_or(Errno(libc::EBADF))?;
        let at = usize::try_from(at).map_err(|_| Errno(libc::EINVAL))?;
        region.read32(at).ok_or(Errno(libc::EINVAL))
    }

    /// munmap of a mapping made by [`Ctx::mmap`].
    pub fn munmap(&mut self, handle: u64) -> Res<()> {
        // Dropping the region unmaps it.
        self.mappings
            .remove(&handle)
            .map(drop)
            .ok_or(Errno(libc::EBADF))
    }

    /// `IOMMU_VDEVICE_ALLOC`.
    pub fn vdevice_alloc(&mut self, viommu: u32, dev: u32, virt_id: u64) -> Res<u32> {
        self.backend
            .vdevice_alloc(viommu, dev, virt_id)
            .map_err(errno)
    }

    /// `IOMMU_HW_QUEUE_ALLOC`.
    pub fn hw_queue_alloc(
        &mut self,
        viommu: u32,
        queue_type: u32,
        index: u32,
        iova: u64,
        length: u64,
    ) -> Res<u32> {
        self.backend
            .hw_queue_alloc(viommu, queue_type, index, iova, length)
            .map_err(errno)
    }

    /// `IOMMU_VEVENTQ_ALLOC`; returns the object id.
    pub fn veventq_alloc(&mut self, viommu: u32, veventq_type: u32, depth: u32) -> Res<u32> {
        self.backend
            .veventq_alloc(viommu, veventq_type, depth)
            .map_err(errno)
    }

    /// Reads every pending vEVENT of a vEVENTQ without blocking.
    pub fn veventq_read(&mut self, veventq: u32) -> Res<Vec<VEvent>> {
        self.backend.veventq_read(veventq).map_err(errno)
    }

    /// `IOMMU_TEST_OP_TRIGGER_VEVENT` for a device.
    pub fn trigger_vevent(&mut self, dev: u32) -> Res<()> {
        self.backend.trigger_vevent(dev).map_err(errno)
    }

    /// `IOMMU_HWPT_INVALIDATE` on `id` with `entries.len() / entry_len`
    /// entries; returns the errno (if any) and the number of entries the
    /// kernel handled.
    pub fn invalidate(
        &mut self,
        id: u32,
        data_type: u32,
        entry_len: u32,
        entries: &[u8],
    ) -> (Res<()>, u32) {
        match self.backend.invalidate(id, data_type, entry_len, entries) {
            Ok(n) => (Ok(()), n),
            Err(e) => {
                let n = e.handled.unwrap_or(0);
                (Err(Errno(e.errno())), n)
            }
        }
    }

    /// `IOMMU_DESTROY`.
    pub fn destroy(&mut self, id: u32) -> Res<()> {
        self.backend.destroy(id).map_err(errno)
    }
}
