//! The one adapter: `vdev::backend::{Backend, Selftest}` straight on the
//! kernel uAPI with raw ioctls on the uAPI structures of `iommufd-bindings`
//! and the selftest ones of `vdev::backend::uapi::selftest` ([`uapi`]).
//! This is the bring-up path and the reference column: it shows what the
//! kernel answers without the project's backend in between, so a
//! disagreement between it and the project's real backend is a backend bug,
//! not a simulator one. It speaks the selftest object types only.
//!
//! Besides the traits it offers what they cannot express, for the kernel
//! facts: read(2) of any size on a vEVENTQ, HWPT allocation flags,
//! invalidation arrays with any entry count or a null pointer, and a destroy
//! that leaves a vEVENTQ's file open.

mod uapi;

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

use self::uapi::*;
use crate::ctx::{Errno, Res};
use vdev::backend::{
    Backend, Error, HwInfo, HwInfoQuery, MappedRegion, MmapRegion, MockDomain, ObjId, ObjectTypes,
    Op, Result, Selftest, VEvent, ViommuDataIn, ViommuDataOut,
};

/// One open `/dev/iommu`: a fresh, empty iommufd context.
pub struct RawKernel {
    // Field order matters: event fds go before the iommufd.
    veventqs: Mutex<HashMap<u32, OwnedFd>>,
    fd: File,
}

fn last_errno() -> Errno {
    Errno(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

fn size_of<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

/// A backend error of `op` from an errno.
fn err(op: Op) -> impl Fn(Errno) -> Error {
    move |e| Error::new(op, e.0)
}

impl RawKernel {
    /// Opens `/dev/iommu`.
    pub fn open() -> Res<Self> {
        let fd = File::options()
            .read(true)
            .write(true)
            .open("/dev/iommu")
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(Self {
            veventqs: Mutex::new(HashMap::new()),
            fd,
        })
    }

    fn veventqs(&self) -> MutexGuard<'_, HashMap<u32, OwnedFd>> {
        self.veventqs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ioctl<T>(&self, request: libc::c_ulong, arg: &mut T) -> Res<()> {
        // SAFETY: `arg` is an exclusively borrowed repr(C) uAPI structure
        // whose first word holds its size; the kernel reads and writes at
        // most that many bytes, and any user pointers inside it point to
        // memory that outlives the call.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), request, arg as *mut T) };
        if rc < 0 {
            Err(last_errno())
        } else {
            Ok(())
        }
    }

    /// `IOMMU_TEST_CMD` of `op` on `id` with the union's first words set
    /// to `payload`; returns the command as the kernel left it.
    fn test_cmd(&self, op: u32, id: u32, payload: &[u32]) -> Res<TestCmd> {
        let mut cmd = TestCmd::new(op, id);
        for (i, &w) in payload.iter().enumerate() {
            cmd.set_payload_u32(i, w);
        }
        self.ioctl(IOMMU_TEST_CMD, &mut cmd)?;
        Ok(cmd)
    }

    /// `IOMMU_DESTROY` leaving any vEVENTQ file open.
    pub fn destroy_keep_fds(&self, id: u32) -> Res<()> {
        let mut cmd = Destroy {
            size: size_of::<Destroy>(),
            id,
        };
        self.ioctl(IOMMU_DESTROY, &mut cmd)
    }

    /// `IOMMU_HWPT_ALLOC` without driver data, any flags.
    pub fn hwpt_alloc(&self, dev: u32, pt: u32, flags: u32) -> Res<u32> {
        let mut cmd = HwptAlloc {
            size: size_of::<HwptAlloc>(),
            flags,
            dev_id: dev,
            pt_id: pt,
            ..Default::default()
        };
        self.ioctl(IOMMU_HWPT_ALLOC, &mut cmd)?;
        Ok(cmd.out_hwpt_id)
    }

    /// read(2) of at most `count` bytes from a vEVENTQ, unparsed.
    pub fn veventq_read_count(&self, handle: u32, count: usize) -> Res<Vec<u8>> {
        let q = self.veventqs();
        let fd = q.get(&handle).ok_or(Errno(libc::EBADF))?;
        let mut buf = vec![0u8; count.max(1)];
        // SAFETY: reading at most `count` bytes into a buffer at least that
        // large.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), count) };
        if n < 0 {
            return Err(last_errno());
        }
        buf.truncate(n as usize);
        Ok(buf)
    }

    /// `IOMMU_HWPT_INVALIDATE` with every field under the caller's control:
    /// `entries: None` passes a null `data_uptr`.
    pub fn invalidate_raw(
        &self,
        id: u32,
        data_type: u32,
        entry_len: u32,
        entry_num: u32,
        entries: Option<&[u8]>,
    ) -> (Res<()>, u32) {
        let mut cmd = HwptInvalidate {
            size: size_of::<HwptInvalidate>(),
            hwpt_id: id,
            data_uptr: entries.map_or(0, |e| e.as_ptr() as u64),
            data_type,
            entry_len,
            entry_num,
            ..Default::default()
        };
        let rc = self.ioctl(IOMMU_HWPT_INVALIDATE, &mut cmd);
        (rc, cmd.entry_num)
    }
}

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
        let len = if flags & VEVENTQ_FLAG_LOST_EVENTS != 0 {
            0
        } else {
            record_len
        };
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

impl Backend for RawKernel {
    fn types(&self) -> &ObjectTypes {
        &ObjectTypes::SELFTEST
    }

    fn get_hw_info(&self, dev_id: ObjId, query: HwInfoQuery) -> Result<HwInfo> {
        let mut data = TestHwInfo::default();
        let input_type = match query {
            HwInfoQuery::Default => None,
            HwInfoQuery::Type(t) => Some(t),
        };
        let mut cmd = HwInfoCmd {
            size: size_of::<HwInfoCmd>(),
            flags: if input_type.is_some() {
                HW_INFO_FLAG_INPUT_TYPE
            } else {
                0
            },
            dev_id,
            data_len: size_of::<TestHwInfo>(),
            data_uptr: &mut data as *mut TestHwInfo as u64,
            __bindgen_anon_1: HwInfoType {
                in_data_type: input_type.unwrap_or(0),
            },
            out_max_pasid_log2: 0,
            __reserved: [0; 3],
            out_capabilities: 0,
        };
        self.ioctl(IOMMU_GET_HW_INFO, &mut cmd)
            .map_err(err(Op::GetHwInfo))?;
        let bytes: Vec<u8> = [data.flags, data.test_reg]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        let n = (cmd.data_len as usize).min(bytes.len());
        // SAFETY: both members of the union are a plain u32.
        let data_type = unsafe { cmd.__bindgen_anon_1.out_data_type };
        Ok(HwInfo {
            data_type,
            data: bytes[..n].to_vec(),
            capabilities: cmd.out_capabilities,
            max_pasid_log2: cmd.out_max_pasid_log2,
        })
    }

    fn ioas_alloc(&self) -> Result<ObjId> {
        let mut cmd = IoasAlloc {
            size: size_of::<IoasAlloc>(),
            ..Default::default()
        };
        self.ioctl(IOMMU_IOAS_ALLOC, &mut cmd)
            .map_err(err(Op::IoasAlloc))?;
        Ok(cmd.out_ioas_id)
    }

    fn ioas_map(&self, ioas: ObjId, iova: u64, length: u64, user_va: u64) -> Result<()> {
        let mut cmd = IoasMap {
            size: size_of::<IoasMap>(),
            flags: IOAS_MAP_FIXED_IOVA | IOAS_MAP_WRITEABLE | IOAS_MAP_READABLE,
            ioas_id: ioas,
            user_va,
            length,
            iova,
            ..Default::default()
        };
        self.ioctl(IOMMU_IOAS_MAP, &mut cmd)
            .map_err(err(Op::IoasMap))
    }

    fn ioas_unmap(&self, ioas: ObjId, iova: u64, length: u64) -> Result<()> {
        let mut cmd = IoasUnmap {
            size: size_of::<IoasUnmap>(),
            ioas_id: ioas,
            iova,
            length,
        };
        self.ioctl(IOMMU_IOAS_UNMAP, &mut cmd)
            .map_err(err(Op::IoasUnmap))
    }

    fn hwpt_alloc_nest_parent(&self, dev_id: ObjId, ioas: ObjId) -> Result<ObjId> {
        self.hwpt_alloc(dev_id, ioas, HWPT_ALLOC_NEST_PARENT)
            .map_err(err(Op::HwptAlloc))
    }

    fn hwpt_alloc_nested(
        &self,
        dev_id: ObjId,
        pt: ObjId,
        data_type: u32,
        data: &[u8],
    ) -> Result<ObjId> {
        let mut cmd = HwptAlloc {
            size: size_of::<HwptAlloc>(),
            dev_id,
            pt_id: pt,
            data_type,
            data_len: data.len() as u32,
            data_uptr: data.as_ptr() as u64,
            ..Default::default()
        };
        self.ioctl(IOMMU_HWPT_ALLOC, &mut cmd)
            .map_err(err(Op::HwptAlloc))?;
        Ok(cmd.out_hwpt_id)
    }

    fn viommu_alloc(
        &self,
        dev_id: ObjId,
        hwpt: ObjId,
        viommu_type: u32,
        data: ViommuDataIn,
    ) -> Result<ViommuDataOut> {
        let in_data = match data {
            ViommuDataIn::None => None,
            ViommuDataIn::Selftest { in_data } => Some(in_data),
            // The selftest types only: this adapter has no Tegra241 layout.
            ViommuDataIn::Tegra241 => return Err(Error::new(Op::ViommuAlloc, libc::EINVAL)),
        };
        let mut st = ViommuSelftest {
            in_data: in_data.unwrap_or(0),
            ..Default::default()
        };
        let mut cmd = ViommuAlloc {
            size: size_of::<ViommuAlloc>(),
            type_: viommu_type,
            dev_id,
            hwpt_id: hwpt,
            ..Default::default()
        };
        if in_data.is_some() {
            cmd.data_len = size_of::<ViommuSelftest>();
            cmd.data_uptr = &mut st as *mut ViommuSelftest as u64;
        }
        self.ioctl(IOMMU_VIOMMU_ALLOC, &mut cmd)
            .map_err(err(Op::ViommuAlloc))?;
        let mut out = ViommuDataOut {
            viommu_id: cmd.out_viommu_id,
            ..Default::default()
        };
        if in_data.is_some() {
            out.out_data = Some(st.out_data);
            out.mmap_offset = st.out_mmap_offset;
            out.mmap_length = st.out_mmap_length;
        }
        Ok(out)
    }

    fn vdevice_alloc(&self, viommu: ObjId, dev_id: ObjId, virt_id: u64) -> Result<ObjId> {
        let mut cmd = VdeviceAlloc {
            size: size_of::<VdeviceAlloc>(),
            viommu_id: viommu,
            dev_id,
            virt_id,
            ..Default::default()
        };
        self.ioctl(IOMMU_VDEVICE_ALLOC, &mut cmd)
            .map_err(err(Op::VdeviceAlloc))?;
        Ok(cmd.out_vdevice_id)
    }

    fn hw_queue_alloc(
        &self,
        viommu: ObjId,
        queue_type: u32,
        index: u32,
        iova: u64,
        length: u64,
    ) -> Result<ObjId> {
        let mut cmd = HwQueueAlloc {
            size: size_of::<HwQueueAlloc>(),
            viommu_id: viommu,
            type_: queue_type,
            index,
            nesting_parent_iova: iova,
            length,
            ..Default::default()
        };
        self.ioctl(IOMMU_HW_QUEUE_ALLOC, &mut cmd)
            .map_err(err(Op::HwQueueAlloc))?;
        Ok(cmd.out_hw_queue_id)
    }

    fn invalidate(&self, id: ObjId, data_type: u32, entry_len: u32, entries: &[u8]) -> Result<u32> {
        let num = if entry_len == 0 {
            0
        } else {
            entries.len() / entry_len as usize
        };
        match self.invalidate_raw(id, data_type, entry_len, num as u32, Some(entries)) {
            (Ok(()), n) => Ok(n),
            (Err(e), n) => Err(Error {
                op: Op::HwptInvalidate,
                errno: e.0,
                handled: Some(n),
            }),
        }
    }

    fn veventq_alloc(&self, viommu: ObjId, veventq_type: u32, depth: u32) -> Result<ObjId> {
        let mut cmd = VeventqAlloc {
            size: size_of::<VeventqAlloc>(),
            viommu_id: viommu,
            type_: veventq_type,
            veventq_depth: depth,
            ..Default::default()
        };
        self.ioctl(IOMMU_VEVENTQ_ALLOC, &mut cmd)
            .map_err(err(Op::VeventqAlloc))?;
        // SAFETY: the kernel just installed this fd for us; we own it.
        let fd = unsafe { OwnedFd::from_raw_fd(cmd.out_veventq_fd as i32) };
        self.veventqs().insert(cmd.out_veventq_id, fd);
        Ok(cmd.out_veventq_id)
    }

    fn veventq_read(&self, veventq: ObjId) -> Result<Vec<VEvent>> {
        let bytes = self
            .veventq_read_count(veventq, 1 << 16)
            .map_err(err(Op::VeventqRead))?;
        Ok(parse_vevents(&bytes, SELFTEST_VEVENT_LEN))
    }

    fn destroy(&self, id: ObjId) -> Result<()> {
        // A vEVENTQ's file holds a reference on the object: a VMM closes it
        // first, as `vdev` does when it drops a vEVENTQ.
        let fd = self.veventqs().remove(&id);
        drop(fd);
        self.destroy_keep_fds(id).map_err(err(Op::Destroy))
    }

    fn mmap(&self, offset: u64, length: u64) -> Result<Box<dyn MappedRegion>> {
        let len = usize::try_from(length).map_err(|_| Error::new(Op::Mmap, libc::EINVAL))?;
        let off = libc::off_t::try_from(offset).map_err(|_| Error::new(Op::Mmap, libc::EINVAL))?;
        // SAFETY: a new shared mapping of the iommufd at a kernel-chosen
        // address; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.fd.as_raw_fd(),
                off,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::new(Op::Mmap, last_errno().0));
        }
        // SAFETY: what the mmap above returned, shared read/write of the
        // iommufd's region; only the returned value unmaps or accesses it.
        match unsafe { MmapRegion::new(ptr as *mut u8, len) } {
            Some(m) => Ok(Box::new(m)),
            None => Err(Error::new(Op::Mmap, libc::EFAULT)),
        }
    }
}

impl Selftest for RawKernel {
    fn mock_domain(&self, ioas: ObjId) -> Result<MockDomain> {
        let out = self
            .test_cmd(TEST_OP_MOCK_DOMAIN, ioas, &[])
            .map_err(err(Op::TestCmd))?;
        Ok(MockDomain {
            stdev_id: out.payload_u32(0),
            hwpt_id: out.payload_u32(1),
            idev_id: out.payload_u32(2),
        })
    }

    fn mock_domain_replace(&self, stdev_id: ObjId, pt: ObjId) -> Result<()> {
        self.test_cmd(TEST_OP_MOCK_DOMAIN_REPLACE, stdev_id, &[pt])
            .map(|_| ())
            .map_err(err(Op::TestCmd))
    }

    fn trigger_vevent(&self, dev_id: ObjId) -> Result<()> {
        self.test_cmd(TEST_OP_TRIGGER_VEVENT, 0, &[dev_id])
            .map(|_| ())
            .map_err(err(Op::TestCmd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vevents_parse() {
        let mut bytes = Vec::new();
        for (flags, seq, payload) in [
            (0u32, 0u32, Some(0x99u32)),
            (1, 1, None),
            (0, 2, Some(0x88)),
        ] {
            bytes.extend_from_slice(&flags.to_ne_bytes());
            bytes.extend_from_slice(&seq.to_ne_bytes());
            if let Some(p) = payload {
                bytes.extend_from_slice(&p.to_ne_bytes());
            }
        }
        let ev = parse_vevents(&bytes, 4);
        let got: Vec<(u32, u32, Vec<u8>)> = ev
            .iter()
            .map(|e| (e.flags, e.sequence, e.data.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 0, 0x99u32.to_ne_bytes().to_vec()),
                (1, 1, vec![]),
                (0, 2, 0x88u32.to_ne_bytes().to_vec()),
            ]
        );
        // A record cut short keeps what arrived.
        assert_eq!(parse_vevents(&bytes[..10], 4)[0].data, vec![0x99, 0]);
    }
}
