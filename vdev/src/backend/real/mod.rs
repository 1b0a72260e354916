//! The real backend: Linux `/dev/iommu` through the rust-vmm `iommufd-ioctls`
//! crate (ioctl numbers and structures from `iommufd-bindings`), `mmap` through
//! libc, and the selftest `IOMMU_TEST_CMD` from [`super::uapi::selftest`].
//!
//! Every request structure is built by a `*_request` function ([`requests`])
//! so unit tests can check what would reach the kernel without a `/dev/iommu`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::sync::{Arc, Mutex};

use iommufd_bindings::iommufd as b;
use iommufd_ioctls::{IommuFd, IommufdError};

use super::deferred::DeferredDestroys;
use super::uapi::{self, selftest};
use super::{
    Backend, Error, HwInfo, HwInfoQuery, MappedRegion, MmapRegion, MockDomain, ObjId, ObjectTypes,
    Op, PollFd, Result, Selftest, VEvent, ViommuDataIn, ViommuDataOut,
};

pub mod requests;

pub use requests::{
    hw_info_request, hw_queue_request, invalidate_request, ioas_map_request, nest_parent_request,
    nested_request, parse_vevents, vdevice_request, veventq_request, viommu_request,
};

#[allow(missing_docs)]
mod nr {
    use super::{selftest, uapi};
    // The test command is not in iommufd-ioctls; vmm-sys-util encodes it.
    vmm_sys_util::ioctl_io_nr!(
        IOMMU_TEST_CMD,
        uapi::IOMMUFD_TYPE as u32,
        selftest::TEST_CMD_NR
    );
}
use nr::IOMMU_TEST_CMD;

/// The `IOMMU_TEST_CMD` ioctl number (`_IO(';', 0x80 + 32)`).
pub fn test_cmd_ioctl_nr() -> u64 {
    IOMMU_TEST_CMD() as u64
}

/// Protection of every iommufd mapping: read and write, never execute.
pub const MMAP_PROT: libc::c_int = libc::PROT_READ | libc::PROT_WRITE;
/// Flags of every iommufd mapping (the kernel refuses private ones).
pub const MMAP_FLAGS: libc::c_int = libc::MAP_SHARED;

/// Bytes of type-specific data `IOMMU_GET_HW_INFO` may return here (VMM
/// parameter: room for the largest record the backend decodes).
const HW_INFO_BUF: usize = 64;

/// Linux errno inside an `iommufd-ioctls` error.
fn errno_of(e: &IommufdError) -> i32 {
    use IommufdError as E;
    match e {
        E::OpenIommufd(io) | E::AttachHwpt(io) => io.raw_os_error().unwrap_or(libc::EIO),
        E::IommuDestroy(s)
        | E::IommuIoasAlloc(s)
        | E::IommuIoasMap(s)
        | E::IommuIoasMapFile(s)
        | E::IommuIoasUnmap(s)
        | E::IommuHwptAlloc(s)
        | E::IommuViommuAlloc(s)
        | E::IommuVdeviceAlloc(s)
        | E::IommuGetHwInfo(s)
        | E::IommuHwptInvalidate(s)
        | E::IommuVeventqAlloc(s)
        | E::VeventqNonBlocking(s)
        | E::IommuHwQueueAlloc(s) => s.errno(),
        _ => libc::EINVAL,
    }
}

/// Reads vEVENT records from a non-blocking vEVENTQ file until it has none
/// (`WouldBlock` or end of file) or `cap` records were read (one read may
/// overshoot by the records of one 4 KiB buffer); the rest stay queued for
/// the next call.
fn read_vevents(mut file: impl Read, record_len: usize, cap: usize) -> Result<Vec<VEvent>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    while out.len() < cap {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let mut ev = parse_vevents(&buf[..n], record_len)
                    .ok_or(Error::new(Op::VeventqRead, libc::EIO))?;
                out.append(&mut ev);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => {
                return Err(Error::new(
                    Op::VeventqRead,
                    e.raw_os_error().unwrap_or(libc::EIO),
                ))
            }
        }
    }
    Ok(out)
}

fn err(op: Op) -> impl Fn(IommufdError) -> Error {
    move |e| Error::new(op, errno_of(&e))
}
/// `/dev/iommu`, asked for the objects of an [`ObjectTypes`] set.
pub struct IommufdBackend {
    fd: IommuFd,
    types: ObjectTypes,
    /// Open vEVENTQs, by object id.
    veventqs: Mutex<HashMap<ObjId, OpenVeventq>>,
    /// Destroys refused in a handle's `Drop`, for a retry at teardown.
    deferred: DeferredDestroys,
}

/// A vEVENTQ's file and what reading it needs.
struct OpenVeventq {
    file: Arc<File>,
    /// Bytes of a record's payload (after the 8-byte header).
    record_len: usize,
    /// The depth it was allocated with: the most records one read returns.
    depth: u32,
}

impl IommufdBackend {
    /// Opens `/dev/iommu`. Fails with [`Op::Open`] and the errno of `open()`
    /// (`ENOENT` where the kernel has no iommufd).
    pub fn open(types: ObjectTypes) -> Result<Self> {
        let fd = IommuFd::new().map_err(err(Op::Open))?;
        Ok(Self::from_iommufd(fd, types))
    }

    /// Uses an already opened `/dev/iommu` (e.g. one passed by a management stack).
    pub fn from_file(file: File, types: ObjectTypes) -> Self {
        Self::from_iommufd(IommuFd::new_from_fd(file), types)
    }

    fn from_iommufd(fd: IommuFd, types: ObjectTypes) -> Self {
        IommufdBackend {
            fd,
            types,
            veventqs: Mutex::new(HashMap::new()),
            deferred: DeferredDestroys::default(),
        }
    }

    fn test_cmd(&self, cmd: &mut selftest::IommuTestCmd) -> Result<()> {
        // SAFETY: `cmd` is a live, correctly sized `struct iommu_test_cmd` for the
        // duration of the call, and the kernel writes only inside it.
        let rc =
            unsafe { vmm_sys_util::ioctl::ioctl_with_mut_ref(&self.fd, IOMMU_TEST_CMD(), cmd) };
        if rc < 0 {
            return Err(Error::new(
                Op::TestCmd,
                std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO),
            ));
        }
        Ok(())
    }
}

impl Backend for IommufdBackend {
    fn types(&self) -> &ObjectTypes {
        &self.types
    }

    fn get_hw_info(&self, dev_id: ObjId, query: HwInfoQuery) -> Result<HwInfo> {
        let mut buf = [0u8; HW_INFO_BUF];
        let mut req = hw_info_request(dev_id, query, &mut buf);
        self.fd.get_hw_info(&mut req).map_err(err(Op::GetHwInfo))?;
        let n = (req.data_len as usize).min(HW_INFO_BUF);
        // SAFETY: both union members are one u32.
        let data_type = unsafe { req.__bindgen_anon_1.out_data_type };
        Ok(HwInfo {
            data_type,
            data: buf[..n].to_vec(),
            capabilities: req.out_capabilities,
            max_pasid_log2: req.out_max_pasid_log2,
        })
    }

    fn ioas_alloc(&self) -> Result<ObjId> {
        let mut req = b::iommu_ioas_alloc {
            size: std::mem::size_of::<b::iommu_ioas_alloc>() as u32,
            flags: 0,
            out_ioas_id: 0,
        };
        self.fd
            .alloc_iommu_ioas(&mut req)
            .map_err(err(Op::IoasAlloc))?;
        Ok(req.out_ioas_id)
    }

    fn ioas_map(&self, ioas: ObjId, iova: u64, length: u64, user_va: u64) -> Result<()> {
        let req = ioas_map_request(ioas, iova, length, user_va);
        self.fd.map_iommu_ioas(&req).map_err(err(Op::IoasMap))
    }

    fn ioas_unmap(&self, ioas: ObjId, iova: u64, length: u64) -> Result<()> {
        let mut req = b::iommu_ioas_unmap {
            size: std::mem::size_of::<b::iommu_ioas_unmap>() as u32,
            ioas_id: ioas,
            iova,
            length,
        };
        self.fd
            .unmap_iommu_ioas(&mut req)
            .map_err(err(Op::IoasUnmap))
    }

    fn hwpt_alloc_nest_parent(&self, dev_id: ObjId, ioas: ObjId) -> Result<ObjId> {
        let mut req = nest_parent_request(dev_id, ioas);
        self.fd
            .alloc_iommu_hwpt(&mut req)
            .map_err(err(Op::HwptAlloc))?;
        Ok(req.out_hwpt_id)
    }

    fn hwpt_alloc_nested(
        &self,
        dev_id: ObjId,
        pt: ObjId,
        data_type: u32,
        data: &[u8],
    ) -> Result<ObjId> {
        let mut req = nested_request(dev_id, pt, data_type, data);
        self.fd
            .alloc_iommu_hwpt(&mut req)
            .map_err(err(Op::HwptAlloc))?;
        Ok(req.out_hwpt_id)
    }

    fn viommu_alloc(
        &self,
        dev_id: ObjId,
        hwpt: ObjId,
        viommu_type: u32,
        data: ViommuDataIn,
    ) -> Result<ViommuDataOut> {
        let mut tegra = b::iommu_viommu_tegra241_cmdqv::default();
        let mut st = selftest::IommuViommuSelftest::default();
        let buf = match data {
            ViommuDataIn::None => None,
            ViommuDataIn::Tegra241 => Some((
                &mut tegra as *mut _ as *mut u8,
                std::mem::size_of_val(&tegra),
            )),
            ViommuDataIn::Selftest { in_data } => {
                st.in_data = in_data;
                Some((&mut st as *mut _ as *mut u8, std::mem::size_of_val(&st)))
            }
        };
        let mut req = viommu_request(dev_id, hwpt, viommu_type, buf);
        self.fd
            .alloc_iommu_viommu(&mut req)
            .map_err(err(Op::ViommuAlloc))?;
        let mut out = ViommuDataOut {
            viommu_id: req.out_viommu_id,
            ..Default::default()
        };
        match data {
            ViommuDataIn::None => {}
            ViommuDataIn::Tegra241 => {
                out.mmap_offset = tegra.out_vintf_mmap_offset;
                out.mmap_length = tegra.out_vintf_mmap_length;
            }
            ViommuDataIn::Selftest { .. } => {
                out.mmap_offset = st.out_mmap_offset;
                out.mmap_length = st.out_mmap_length;
                out.out_data = Some(st.out_data);
            }
        }
        Ok(out)
    }

    fn vdevice_alloc(&self, viommu: ObjId, dev_id: ObjId, virt_id: u64) -> Result<ObjId> {
        let mut req = vdevice_request(viommu, dev_id, virt_id);
        self.fd
            .alloc_iommu_vdevice(&mut req)
            .map_err(err(Op::VdeviceAlloc))?;
        Ok(req.out_vdevice_id)
    }

    fn hw_queue_alloc(
        &self,
        viommu: ObjId,
        queue_type: u32,
        index: u32,
        iova: u64,
        length: u64,
    ) -> Result<ObjId> {
        let mut req = hw_queue_request(viommu, queue_type, index, iova, length);
        self.fd
            .alloc_hw_queue(&mut req)
            .map_err(err(Op::HwQueueAlloc))?;
        Ok(req.out_hw_queue_id)
    }

    fn invalidate(&self, id: ObjId, data_type: u32, entry_len: u32, entries: &[u8]) -> Result<u32> {
        if entry_len != 0 && !entries.len().is_multiple_of(entry_len as usize) {
            // A caller bug, refused before the kernel sees a torn entry.
            return Err(Error::new(Op::HwptInvalidate, libc::EINVAL));
        }
        let mut req = invalidate_request(id, data_type, entry_len, entries);
        match self.fd.invalidate_hwpt(&mut req) {
            Ok(()) => Ok(req.entry_num),
            Err(e) => Err(Error {
                op: Op::HwptInvalidate,
                errno: errno_of(&e),
                handled: Some(req.entry_num),
            }),
        }
    }

    fn veventq_alloc(&self, viommu: ObjId, veventq_type: u32, depth: u32) -> Result<ObjId> {
        let record_len = uapi::vevent_record_len(veventq_type)
            .or((veventq_type == self.types.veventq_type).then_some(self.types.veventq_record_len))
            .ok_or(Error::new(Op::VeventqAlloc, libc::EOPNOTSUPP))?;
        let mut req = veventq_request(viommu, veventq_type, depth);
        let (id, file) = self
            .fd
            .alloc_veventq(&mut req)
            .map_err(err(Op::VeventqAlloc))?;
        self.veventqs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id,
                OpenVeventq {
                    file: Arc::new(file),
                    record_len,
                    depth,
                },
            );
        Ok(id)
    }

    fn veventq_read(&self, veventq: ObjId) -> Result<Vec<VEvent>> {
        let map = self.veventqs.lock().unwrap_or_else(|p| p.into_inner());
        let q = map
            .get(&veventq)
            .ok_or(Error::new(Op::VeventqRead, libc::ENOENT))?;
        // A full queue plus the lost-events marker is all one call returns,
        // even while the kernel keeps queueing: the caller's work per call
        // stays bounded, and the descriptor stays readable for the rest.
        read_vevents(&*q.file, q.record_len, q.depth as usize + 1)
    }

    fn veventq_fd(&self, veventq: ObjId) -> Result<PollFd> {
        let map = self.veventqs.lock().unwrap_or_else(|p| p.into_inner());
        let q = map
            .get(&veventq)
            .ok_or(Error::new(Op::VeventqFd, libc::ENOENT))?;
        Ok(q.file.clone())
    }

    fn destroy(&self, id: ObjId) -> Result<()> {
        // A vEVENTQ's file goes first, as its owner would close it (the
        // descriptor stays open while a holder of `veventq_fd` keeps it,
        // and the kernel then refuses the destroy with EBUSY).
        let file = self
            .veventqs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        drop(file);
        self.fd.destroy_iommu_object(id).map_err(err(Op::Destroy))
    }

    fn deferred_destroys(&self) -> Option<&DeferredDestroys> {
        Some(&self.deferred)
    }

    fn mmap(&self, offset: u64, length: u64) -> Result<Box<dyn MappedRegion>> {
        let len = usize::try_from(length).map_err(|_| Error::new(Op::Mmap, libc::EINVAL))?;
        let off = libc::off_t::try_from(offset).map_err(|_| Error::new(Op::Mmap, libc::EINVAL))?;
        if len == 0 {
            return Err(Error::new(Op::Mmap, libc::EINVAL));
        }
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL); nothing aliases it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                MMAP_PROT,
                MMAP_FLAGS,
                self.fd.as_raw_fd(),
                off,
            )
        };
        if ptr == libc::MAP_FAILED {
            let e = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            return Err(Error::new(Op::Mmap, e));
        }
        // SAFETY: what the mmap above returned, MAP_SHARED read/write of the
        // device's region; only the returned value unmaps or accesses it.
        match unsafe { MmapRegion::new(ptr as *mut u8, len) } {
            Some(m) => Ok(Box::new(m)),
            // A kernel answer no mmap gives (null or wrapping), unmapped.
            None => Err(Error::new(Op::Mmap, libc::EFAULT)),
        }
    }
}

impl Selftest for IommufdBackend {
    fn mock_domain(&self, ioas: ObjId) -> Result<MockDomain> {
        let mut cmd = selftest::IommuTestCmd::new(selftest::OP_MOCK_DOMAIN, ioas);
        self.test_cmd(&mut cmd)?;
        Ok(MockDomain {
            stdev_id: cmd.payload_u32(0),
            hwpt_id: cmd.payload_u32(1),
            idev_id: cmd.payload_u32(2),
        })
    }

    fn mock_domain_replace(&self, stdev_id: ObjId, pt: ObjId) -> Result<()> {
        let mut cmd = selftest::IommuTestCmd::new(selftest::OP_MOCK_DOMAIN_REPLACE, stdev_id);
        cmd.set_payload_u32(0, pt);
        self.test_cmd(&mut cmd)
    }

    fn trigger_vevent(&self, dev_id: ObjId) -> Result<()> {
        let mut cmd = selftest::IommuTestCmd::new(selftest::OP_TRIGGER_VEVENT, 0);
        cmd.set_payload_u32(0, dev_id);
        self.test_cmd(&mut cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vevent_read_stops_at_its_cap_while_the_kernel_keeps_queueing() {
        // A reader that always has another record: a producer faster than
        // the VMM. The read still ends, with about `cap` records.
        struct Endless;
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let rec = [0u8; 8 + 32];
                buf[..rec.len()].copy_from_slice(&rec);
                Ok(rec.len())
            }
        }
        let ev = read_vevents(Endless, 32, 5).unwrap();
        assert_eq!(ev.len(), 5);
        // A drained file ends the read early; a torn record is EIO.
        assert!(read_vevents(&[][..], 32, 5).unwrap().is_empty());
        let err = read_vevents(&[0u8; 12][..], 32, 5).unwrap_err();
        assert_eq!(err.errno, libc::EIO);
    }

    fn io(nr: u32) -> u64 {
        uapi::io_nr(uapi::IOMMUFD_TYPE, nr)
    }

    #[test]
    // Miri does not model it: opens /dev/iommu.
    #[cfg_attr(miri, ignore)]
    fn constructor_without_dev_iommu_is_a_clear_error() {
        if std::path::Path::new("/dev/iommu").exists() {
            return; // a host with iommufd: nothing to show here
        }
        let e = IommufdBackend::open(ObjectTypes::TEGRA241)
            .err()
            .expect("no /dev/iommu");
        assert_eq!(e.op, Op::Open);
        assert_eq!(e.errno, libc::ENOENT);
        assert!(e.to_string().contains("open(/dev/iommu)"), "{e}");
    }

    #[test]
    fn ioctl_numbers_are_io_semicolon_nr() {
        use iommufd_ioctls as i;
        assert_eq!(i::IOMMU_DESTROY() as u64, io(0x80));
        assert_eq!(i::IOMMU_IOAS_ALLOC() as u64, io(0x81));
        assert_eq!(i::IOMMU_IOAS_MAP() as u64, io(0x85));
        assert_eq!(i::IOMMU_IOAS_UNMAP() as u64, io(0x86));
        assert_eq!(i::IOMMU_HWPT_ALLOC() as u64, io(0x89));
        assert_eq!(i::IOMMUFD_GET_HW_INFO() as u64, io(0x8a));
        assert_eq!(i::IOMMUFD_HWPT_INVALIDATE() as u64, io(0x8d));
        assert_eq!(i::IOMMU_VIOMMU_ALLOC() as u64, io(0x90));
        assert_eq!(i::IOMMU_VDEVICE_ALLOC() as u64, io(0x91));
        assert_eq!(i::IOMMU_VEVENTQ_ALLOC() as u64, io(0x93));
        assert_eq!(i::IOMMU_HW_QUEUE_ALLOC() as u64, io(0x94));
        assert_eq!(test_cmd_ioctl_nr(), io(0x80 + 32));
        assert_eq!(test_cmd_ioctl_nr(), 0x3ba0);
    }

    #[test]
    fn mmap_is_shared_read_write_never_exec() {
        assert_eq!(MMAP_PROT & libc::PROT_EXEC, 0);
        assert_eq!(MMAP_PROT, libc::PROT_READ | libc::PROT_WRITE);
        assert_eq!(MMAP_FLAGS, libc::MAP_SHARED);
    }

    /// A backend over a file that is not iommufd: every ioctl reaches the
    /// kernel and comes back ENOTTY, which shows the errno plumbing end to end.
    fn not_iommufd() -> IommufdBackend {
        let f = File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .unwrap();
        IommufdBackend::from_file(f, ObjectTypes::SELFTEST)
    }

    #[test]
    // Miri does not model it: ioctls on /dev/null.
    #[cfg_attr(miri, ignore)]
    fn kernel_errnos_come_back_per_call() {
        let b = not_iommufd();
        let e = b.ioas_alloc().unwrap_err();
        assert_eq!((e.op, e.errno), (Op::IoasAlloc, libc::ENOTTY));
        assert_eq!(
            b.get_hw_info(1, HwInfoQuery::Default).unwrap_err().errno,
            libc::ENOTTY
        );
        assert_eq!(b.ioas_map(1, 0, 4096, 0).unwrap_err().op, Op::IoasMap);
        assert_eq!(
            b.hwpt_alloc_nest_parent(1, 2).unwrap_err().op,
            Op::HwptAlloc
        );
        let v = b
            .viommu_alloc(1, 2, 3, ViommuDataIn::Selftest { in_data: 1 })
            .unwrap_err();
        assert_eq!((v.op, v.errno), (Op::ViommuAlloc, libc::ENOTTY));
        assert_eq!(
            b.hw_queue_alloc(1, 2, 0, 0, 4096).unwrap_err().op,
            Op::HwQueueAlloc
        );
        assert_eq!(b.vdevice_alloc(1, 2, 3).unwrap_err().op, Op::VdeviceAlloc);
        assert_eq!(
            b.veventq_alloc(1, uapi::VEVENTQ_TYPE_TEGRA241_CMDQV, 4)
                .unwrap_err()
                .op,
            Op::VeventqAlloc
        );
        assert_eq!(
            b.veventq_alloc(1, 0x1234, 4).unwrap_err().errno,
            libc::EOPNOTSUPP
        );
        assert_eq!(b.veventq_read(7).unwrap_err().errno, libc::ENOENT);
        let f = b.veventq_fd(7).err().expect("no such vEVENTQ");
        assert_eq!((f.op, f.errno), (Op::VeventqFd, libc::ENOENT));
        let i = b.invalidate(1, 1, 16, &[0u8; 32]).unwrap_err();
        assert_eq!((i.op, i.errno), (Op::HwptInvalidate, libc::ENOTTY));
        assert!(i.handled.is_some());
        assert_eq!(
            b.invalidate(1, 1, 16, &[0u8; 20]).unwrap_err().errno,
            libc::EINVAL
        );
        let t = b.mock_domain(1).unwrap_err();
        assert_eq!((t.op, t.errno), (Op::TestCmd, libc::ENOTTY));
        assert_eq!(b.mock_domain_replace(1, 2).unwrap_err().errno, libc::ENOTTY);
        assert_eq!(b.trigger_vevent(1).unwrap_err().errno, libc::ENOTTY);
        assert_eq!(b.destroy(1).unwrap_err().op, Op::Destroy);
        assert_eq!(b.mmap(u64::MAX, 4096).unwrap_err().errno, libc::EINVAL);
        assert_eq!(b.mmap(0, 0).unwrap_err().errno, libc::EINVAL);
    }

    #[test]
    // Miri does not model it: memfd_create and mmap.
    #[cfg_attr(miri, ignore)]
    fn mapping_reads_and_writes_words() {
        // A memfd stands in for /dev/iommu: the same MAP_SHARED mapping path.
        // SAFETY: a plain syscall with a valid C string.
        let fd = unsafe { libc::memfd_create(c"vdev-test".as_ptr(), 0) };
        assert!(fd >= 0);
        // SAFETY: fd was just created and is owned by this File from now on.
        let f = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        f.set_len(8192).unwrap();
        let b = IommufdBackend::from_file(f, ObjectTypes::TEGRA241);
        let m = b.mmap(4096, 4096).unwrap();
        assert_eq!(m.len(), 4096);
        assert!(m.write32(8, 0xdead_beef));
        assert_eq!(m.read32(8), Some(0xdead_beef));
        assert_eq!(m.read32(4096), None);
        assert_eq!(m.read32(2), None);
        assert!(!m.write32(4094, 1));
        assert!(!m.host_ptr().is_null());
    }
}
