//! [`Iommu`] over `vdev::backend::Backend`: the project's real iommufd
//! backend and its simulator answer the cases through the same code. The
//! adapter only translates types; every request goes to the backend as is.

use crate::ops::{Errno, Iommu, MockDevice, Res, VEvent, ViommuOut};
use std::collections::HashMap;
use vdev::backend::{HwInfoQuery, MappedRegion, Selftest, ViommuDataIn};

/// Anonymous memory handed to `ioas_map` (the real backend maps this
/// process's memory; the simulator ignores the address).
struct Buffer {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from a successful mmap and are unmapped once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// A `vdev` backend seen as [`Iommu`].
pub struct VdevIommu {
    // Mappings go before the backend (they may refer to its fd), buffers
    // after it (the kernel pins them until the fd closes).
    mappings: HashMap<u64, Box<dyn MappedRegion>>,
    next_handle: u64,
    backend: Box<dyn Selftest>,
    buffers: Vec<Buffer>,
}

fn errno(e: vdev::backend::Error) -> Errno {
    Errno(e.errno())
}

impl VdevIommu {
    /// Wraps a fresh backend (one iommufd context, or one simulated kernel).
    pub fn new(backend: Box<dyn Selftest>) -> Self {
        Self {
            mappings: HashMap::new(),
            next_handle: 1,
            backend,
            buffers: Vec::new(),
        }
    }
}

impl Iommu for VdevIommu {
    fn ioas_alloc(&mut self) -> Res<u32> {
        self.backend.ioas_alloc().map_err(errno)
    }

    fn ioas_map_fixed(&mut self, ioas: u32, iova: u64, length: u64) -> Res<()> {
        let len = usize::try_from(length)
            .map_err(|_| Errno(libc::EOVERFLOW))?
            .max(1);
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
        self.buffers.push(Buffer { ptr, len });
        self.backend
            .ioas_map(ioas, iova, length, ptr as u64)
            .map_err(errno)
    }

    fn ioas_unmap(&mut self, ioas: u32, iova: u64, length: u64) -> Res<()> {
        self.backend.ioas_unmap(ioas, iova, length).map_err(errno)
    }

    fn mock_domain(&mut self, ioas: u32) -> Res<MockDevice> {
        let m = self.backend.mock_domain(ioas).map_err(errno)?;
        Ok(MockDevice {
            stdev: m.stdev_id,
            hwpt: m.hwpt_id,
            idev: m.idev_id,
        })
    }

    fn mock_domain_replace(&mut self, stdev: u32, pt: u32) -> Res<()> {
        self.backend.mock_domain_replace(stdev, pt).map_err(errno)
    }

    fn hwpt_alloc_nest_parent(&mut self, dev: u32, ioas: u32) -> Res<u32> {
        self.backend
            .hwpt_alloc_nest_parent(dev, ioas)
            .map_err(errno)
    }

    fn hwpt_alloc_nested(&mut self, dev: u32, pt: u32, data_type: u32, data: &[u8]) -> Res<u32> {
        self.backend
            .hwpt_alloc_nested(dev, pt, data_type, data)
            .map_err(errno)
    }

    fn get_hw_info(&mut self, dev: u32, input_type: Option<u32>) -> Res<(u32, u32)> {
        let query = input_type.map_or(HwInfoQuery::Default, HwInfoQuery::Type);
        let info = self.backend.get_hw_info(dev, query).map_err(errno)?;
        // struct iommu_test_hw_info { flags, test_reg }: the word at 4, read
        // whatever the type, as the raw column does.
        let reg = info
            .data
            .get(4..8)
            .map_or(0, |w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        Ok((info.data_type, reg))
    }

    fn viommu_alloc(
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

    fn mmap(&mut self, offset: u64, length: u64) -> Res<u64> {
        let region = self.backend.mmap(offset, length).map_err(errno)?;
        let handle = self.next_handle;
        self.next_handle += 1;
        self.mappings.insert(handle, region);
        Ok(handle)
    }

    fn mmap_read_u32(&mut self, handle: u64, at: u64) -> Res<u32> {
        let region = self.mappings.get(&handle).ok_or(Errno(libc::EBADF))?;
        let at = usize::try_from(at).map_err(|_| Errno(libc::EINVAL))?;
        region.read32(at).ok_or(Errno(libc::EINVAL))
    }

    fn munmap(&mut self, handle: u64) -> Res<()> {
        // Dropping the region unmaps it.
        self.mappings
            .remove(&handle)
            .map(drop)
            .ok_or(Errno(libc::EBADF))
    }

    fn vdevice_alloc(&mut self, viommu: u32, dev: u32, virt_id: u64) -> Res<u32> {
        self.backend
            .vdevice_alloc(viommu, dev, virt_id)
            .map_err(errno)
    }

    fn hw_queue_alloc(
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

    fn veventq_alloc(&mut self, viommu: u32, veventq_type: u32, depth: u32) -> Res<u32> {
        self.backend
            .veventq_alloc(viommu, veventq_type, depth)
            .map_err(errno)
    }

    fn veventq_read(&mut self, veventq: u32) -> Res<Vec<VEvent>> {
        let events = self.backend.veventq_read(veventq).map_err(errno)?;
        Ok(events
            .into_iter()
            .map(|e| VEvent {
                flags: e.flags,
                sequence: e.sequence,
                data: e.data,
            })
            .collect())
    }

    fn trigger_vevent(&mut self, dev: u32) -> Res<()> {
        self.backend.trigger_vevent(dev).map_err(errno)
    }

    fn invalidate(
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

    fn destroy(&mut self, id: u32) -> Res<()> {
        self.backend.destroy(id).map_err(errno)
    }
}
