//! The real backend: Linux `/dev/iommu` through the rust-vmm `iommufd-ioctls`
//! crate (ioctl numbers and structures from `iommufd-bindings`), `mmap` through
//! libc, and the selftest `IOMMU_TEST_CMD` from [`super::uapi::selftest`].
//!
//! Every request structure is built by a `*_request` function so unit tests can
//! check what would reach the kernel without a `/dev/iommu`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::sync::Mutex;

use iommufd_bindings::iommufd as b;
use iommufd_ioctls::{IommuFd, IommufdError};

use super::uapi::{self, selftest};
use super::{
    Backend, Error, HwInfo, HwInfoQuery, MappedRegion, MockDomain, ObjId, ObjectTypes, Op, Result,
    VEvent, ViommuDataIn, ViommuDataOut,
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

/// Bytes of type-specific data `IOMMU_GET_HW_INFO` may return here.
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

fn err(op: Op) -> impl Fn(IommufdError) -> Error {
    move |e| Error::new(op, errno_of(&e))
}

/// The `IOMMU_GET_HW_INFO` request for `dev_id`, writing into `buf`.
pub fn hw_info_request(dev_id: ObjId, query: HwInfoQuery, buf: &mut [u8]) -> b::iommu_hw_info {
    let mut req = b::iommu_hw_info {
        size: std::mem::size_of::<b::iommu_hw_info>() as u32,
        dev_id,
        data_len: buf.len() as u32,
        data_uptr: buf.as_mut_ptr() as u64,
        ..Default::default()
    };
    if let HwInfoQuery::Type(t) = query {
        req.flags = uapi::HW_INFO_FLAG_INPUT_TYPE;
        req.__bindgen_anon_1.in_data_type = t;
    }
    req
}

/// The `IOMMU_IOAS_MAP` request: fixed IOVA, readable and writeable.
pub fn ioas_map_request(ioas: ObjId, iova: u64, length: u64, user_va: u64) -> b::iommu_ioas_map {
    b::iommu_ioas_map {
        size: std::mem::size_of::<b::iommu_ioas_map>() as u32,
        flags: b::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_FIXED_IOVA
            | b::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_READABLE
            | b::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_WRITEABLE,
        ioas_id: ioas,
        __reserved: 0,
        user_va,
        length,
        iova,
    }
}

/// The `IOMMU_HWPT_ALLOC` request of a nesting parent on an IOAS.
pub fn nest_parent_request(dev_id: ObjId, ioas: ObjId) -> b::iommu_hwpt_alloc {
    b::iommu_hwpt_alloc {
        size: std::mem::size_of::<b::iommu_hwpt_alloc>() as u32,
        flags: uapi::HWPT_ALLOC_NEST_PARENT,
        dev_id,
        pt_id: ioas,
        data_type: b::iommu_hwpt_data_type_IOMMU_HWPT_DATA_NONE,
        ..Default::default()
    }
}

/// The `IOMMU_HWPT_ALLOC` request of a nested HWPT on a vIOMMU.
pub fn nested_request(
    dev_id: ObjId,
    viommu: ObjId,
    data_type: u32,
    data: &[u8],
) -> b::iommu_hwpt_alloc {
    b::iommu_hwpt_alloc {
        size: std::mem::size_of::<b::iommu_hwpt_alloc>() as u32,
        flags: 0,
        dev_id,
        pt_id: viommu,
        data_type,
        data_len: data.len() as u32,
        data_uptr: data.as_ptr() as u64,
        ..Default::default()
    }
}

/// The `IOMMU_VIOMMU_ALLOC` request; `data_uptr`/`data_len` point at `data`.
pub fn viommu_request(
    dev_id: ObjId,
    hwpt: ObjId,
    viommu_type: u32,
    data: Option<(*mut u8, usize)>,
) -> b::iommu_viommu_alloc {
    let (ptr, len) = data.unwrap_or((std::ptr::null_mut(), 0));
    b::iommu_viommu_alloc {
        size: std::mem::size_of::<b::iommu_viommu_alloc>() as u32,
        flags: 0,
        type_: viommu_type,
        dev_id,
        hwpt_id: hwpt,
        data_len: len as u32,
        data_uptr: ptr as u64,
        ..Default::default()
    }
}

/// The `IOMMU_VDEVICE_ALLOC` request.
pub fn vdevice_request(viommu: ObjId, dev_id: ObjId, virt_id: u64) -> b::iommu_vdevice_alloc {
    b::iommu_vdevice_alloc {
        size: std::mem::size_of::<b::iommu_vdevice_alloc>() as u32,
        viommu_id: viommu,
        dev_id,
        out_vdevice_id: 0,
        virt_id,
    }
}

/// The `IOMMU_HW_QUEUE_ALLOC` request.
pub fn hw_queue_request(
    viommu: ObjId,
    queue_type: u32,
    index: u32,
    iova: u64,
    length: u64,
) -> b::iommu_hw_queue_alloc {
    b::iommu_hw_queue_alloc {
        size: std::mem::size_of::<b::iommu_hw_queue_alloc>() as u32,
        flags: 0,
        viommu_id: viommu,
        type_: queue_type,
        index,
        out_hw_queue_id: 0,
        nesting_parent_iova: iova,
        length,
    }
}

/// The `IOMMU_HWPT_INVALIDATE` request over `entries`.
pub fn invalidate_request(
    id: ObjId,
    data_type: u32,
    entry_len: u32,
    entries: &[u8],
) -> b::iommu_hwpt_invalidate {
    let num = if entry_len == 0 {
        0
    } else {
        (entries.len() / entry_len as usize) as u32
    };
    b::iommu_hwpt_invalidate {
        size: std::mem::size_of::<b::iommu_hwpt_invalidate>() as u32,
        hwpt_id: id,
        data_uptr: entries.as_ptr() as u64,
        data_type,
        entry_len,
        entry_num: num,
        __reserved: 0,
    }
}

/// The `IOMMU_VEVENTQ_ALLOC` request.
pub fn veventq_request(viommu: ObjId, veventq_type: u32, depth: u32) -> b::iommu_veventq_alloc {
    b::iommu_veventq_alloc {
        size: std::mem::size_of::<b::iommu_veventq_alloc>() as u32,
        flags: 0,
        viommu_id: viommu,
        type_: veventq_type,
        veventq_depth: depth,
        ..Default::default()
    }
}

/// Splits bytes read from a vEVENTQ into records of `record_len`-byte payloads.
/// `None` when the bytes end inside a record.
pub fn parse_vevents(buf: &[u8], record_len: usize) -> Option<Vec<VEvent>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let h = buf.get(off..off + 8)?;
        let flags = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]);
        let sequence = u32::from_ne_bytes([h[4], h[5], h[6], h[7]]);
        off += 8;
        let data = if flags & uapi::VEVENTQ_FLAG_LOST_EVENTS != 0 {
            Vec::new()
        } else {
            let d = buf.get(off..off + record_len)?.to_vec();
            off += record_len;
            d
        };
        out.push(VEvent {
            flags,
            sequence,
            data,
        });
    }
    Some(out)
}

/// `/dev/iommu`, asked for the objects of an [`ObjectTypes`] set.
pub struct IommufdBackend {
    fd: IommuFd,
    types: ObjectTypes,
    /// Open vEVENTQ files and their record lengths, by object id.
    veventqs: Mutex<HashMap<ObjId, (File, usize)>>,
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

/// A `MAP_SHARED` read/write mapping of an iommufd region.
struct RealMapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; accesses go through volatile loads
// and stores of single aligned words, which any thread may issue.
unsafe impl Send for RealMapping {}
// SAFETY: see above.
unsafe impl Sync for RealMapping {}

impl MappedRegion for RealMapping {
    fn len(&self) -> usize {
        self.len
    }
    fn read32(&self, offset: usize) -> Option<u32> {
        if !offset.is_multiple_of(4) || offset.checked_add(4)? > self.len {
            return None;
        }
        // SAFETY: in bounds and aligned (mmap returns page-aligned memory).
        Some(unsafe { std::ptr::read_volatile(self.ptr.add(offset) as *const u32) })
    }
    fn write32(&self, offset: usize, value: u32) -> bool {
        if !offset.is_multiple_of(4) || offset.checked_add(4).is_none_or(|e| e > self.len) {
            return false;
        }
        // SAFETY: in bounds and aligned; the mapping is writable.
        unsafe { std::ptr::write_volatile(self.ptr.add(offset) as *mut u32, value) };
        true
    }
    fn host_ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl Drop for RealMapping {
    fn drop(&mut self) {
        // SAFETY: exactly the range mmap returned, unmapped once.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
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
            .insert(id, (file, record_len));
        Ok(id)
    }

    fn veventq_read(&self, veventq: ObjId) -> Result<Vec<VEvent>> {
        let mut map = self.veventqs.lock().unwrap_or_else(|p| p.into_inner());
        let (file, record_len) = map
            .get_mut(&veventq)
            .ok_or(Error::new(Op::VeventqRead, libc::ENOENT))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4096];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let mut ev = parse_vevents(&buf[..n], *record_len)
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

    fn destroy(&self, id: ObjId) -> Result<()> {
        // A vEVENTQ's file goes first, as its owner would close it.
        let file = self
            .veventqs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        drop(file);
        self.fd.destroy_iommu_object(id).map_err(err(Op::Destroy))
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
        Ok(Box::new(RealMapping {
            ptr: ptr as *mut u8,
            len,
        }))
    }

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
    use core::mem::{offset_of, size_of};

    fn io(nr: u32) -> u64 {
        uapi::io_nr(uapi::IOMMUFD_TYPE, nr)
    }

    #[test]
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
    fn hw_info_request_layout_and_input_type() {
        assert_eq!(size_of::<b::iommu_hw_info>(), 40);
        assert_eq!(offset_of!(b::iommu_hw_info, data_uptr), 16);
        assert_eq!(offset_of!(b::iommu_hw_info, __bindgen_anon_1), 24);
        assert_eq!(offset_of!(b::iommu_hw_info, out_max_pasid_log2), 28);
        assert_eq!(offset_of!(b::iommu_hw_info, out_capabilities), 32);
        assert_eq!(size_of::<b::iommu_hw_info_tegra241_cmdqv>(), 8);
        assert_eq!(offset_of!(b::iommu_hw_info_tegra241_cmdqv, version), 4);
        assert_eq!(offset_of!(b::iommu_hw_info_tegra241_cmdqv, log2vsids), 6);
        assert_eq!(size_of::<b::iommu_hw_info_arm_smmuv3>(), 40);
        let mut buf = [0u8; 64];
        let r = hw_info_request(
            5,
            HwInfoQuery::Type(uapi::HW_INFO_TYPE_TEGRA241_CMDQV),
            &mut buf,
        );
        assert_eq!(r.size, 40);
        assert_eq!(r.flags, 1);
        assert_eq!(r.dev_id, 5);
        assert_eq!(r.data_len, 64);
        assert_eq!(r.data_uptr, buf.as_ptr() as u64);
        // SAFETY: one u32 under either name.
        assert_eq!(unsafe { r.__bindgen_anon_1.in_data_type }, 3);
        let r = hw_info_request(5, HwInfoQuery::Default, &mut buf);
        assert_eq!(r.flags, 0);
        // SAFETY: as above.
        assert_eq!(unsafe { r.__bindgen_anon_1.in_data_type }, 0);
    }

    #[test]
    fn ioas_requests() {
        assert_eq!(size_of::<b::iommu_ioas_alloc>(), 12);
        assert_eq!(size_of::<b::iommu_ioas_map>(), 40);
        assert_eq!(offset_of!(b::iommu_ioas_map, user_va), 16);
        assert_eq!(offset_of!(b::iommu_ioas_map, length), 24);
        assert_eq!(offset_of!(b::iommu_ioas_map, iova), 32);
        assert_eq!(size_of::<b::iommu_ioas_unmap>(), 24);
        assert_eq!(offset_of!(b::iommu_ioas_unmap, iova), 8);
        let r = ioas_map_request(3, 0x8000_0000, 0x20_0000, 0x7f00_0000_0000);
        // FIXED_IOVA 1, WRITEABLE 2, READABLE 4 in the uAPI.
        assert_eq!(r.flags, 0b111);
        assert_eq!(
            (r.ioas_id, r.iova, r.length, r.user_va),
            (3, 0x8000_0000, 0x20_0000, 0x7f00_0000_0000)
        );
        assert_eq!(size_of::<b::iommu_destroy>(), 8);
    }

    #[test]
    fn hwpt_requests() {
        assert_eq!(size_of::<b::iommu_hwpt_alloc>(), 48);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, pt_id), 12);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, out_hwpt_id), 16);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, data_type), 24);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, data_len), 28);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, data_uptr), 32);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, fault_id), 40);
        let p = nest_parent_request(4, 2);
        assert_eq!(
            (p.size, p.flags, p.dev_id, p.pt_id, p.data_type, p.data_len),
            (48, 1, 4, 2, 0, 0)
        );
        let ste = [0x11u8; 16];
        let n = nested_request(4, 9, uapi::HWPT_DATA_ARM_SMMUV3, &ste);
        assert_eq!((n.flags, n.pt_id, n.data_type, n.data_len), (0, 9, 2, 16));
        assert_eq!(n.data_uptr, ste.as_ptr() as u64);
        assert_eq!(size_of::<b::iommu_hwpt_arm_smmuv3>(), 16);
    }

    #[test]
    fn viommu_request_layouts() {
        assert_eq!(size_of::<b::iommu_viommu_alloc>(), 40);
        assert_eq!(offset_of!(b::iommu_viommu_alloc, type_), 8);
        assert_eq!(offset_of!(b::iommu_viommu_alloc, hwpt_id), 16);
        assert_eq!(offset_of!(b::iommu_viommu_alloc, out_viommu_id), 20);
        assert_eq!(offset_of!(b::iommu_viommu_alloc, data_len), 24);
        assert_eq!(offset_of!(b::iommu_viommu_alloc, data_uptr), 32);
        assert_eq!(size_of::<b::iommu_viommu_tegra241_cmdqv>(), 16);
        assert_eq!(
            offset_of!(b::iommu_viommu_tegra241_cmdqv, out_vintf_mmap_length),
            8
        );
        let mut d = b::iommu_viommu_tegra241_cmdqv::default();
        let r = viommu_request(
            4,
            6,
            uapi::VIOMMU_TYPE_TEGRA241_CMDQV,
            Some((&mut d as *mut _ as *mut u8, 16)),
        );
        assert_eq!(
            (r.size, r.flags, r.type_, r.dev_id, r.hwpt_id, r.data_len),
            (40, 0, 2, 4, 6, 16)
        );
        let r = viommu_request(4, 6, selftest::VIOMMU_TYPE_SELFTEST, None);
        assert_eq!((r.type_, r.data_len, r.data_uptr), (0xdead_beef, 0, 0));
    }

    #[test]
    fn vdevice_hw_queue_veventq_invalidate_requests() {
        assert_eq!(size_of::<b::iommu_vdevice_alloc>(), 24);
        assert_eq!(offset_of!(b::iommu_vdevice_alloc, virt_id), 16);
        let v = vdevice_request(7, 4, 0x1234);
        assert_eq!(
            (v.size, v.viommu_id, v.dev_id, v.virt_id),
            (24, 7, 4, 0x1234)
        );

        assert_eq!(size_of::<b::iommu_hw_queue_alloc>(), 40);
        assert_eq!(offset_of!(b::iommu_hw_queue_alloc, index), 16);
        assert_eq!(offset_of!(b::iommu_hw_queue_alloc, nesting_parent_iova), 24);
        assert_eq!(offset_of!(b::iommu_hw_queue_alloc, length), 32);
        let q = hw_queue_request(
            7,
            uapi::HW_QUEUE_TYPE_TEGRA241_CMDQV,
            1,
            0x4000_0000,
            0x1000,
        );
        assert_eq!(
            (q.size, q.flags, q.viommu_id, q.type_, q.index),
            (40, 0, 7, 1, 1)
        );
        assert_eq!((q.nesting_parent_iova, q.length), (0x4000_0000, 0x1000));

        assert_eq!(size_of::<b::iommu_veventq_alloc>(), 32);
        assert_eq!(offset_of!(b::iommu_veventq_alloc, veventq_depth), 16);
        assert_eq!(offset_of!(b::iommu_veventq_alloc, out_veventq_fd), 24);
        let e = veventq_request(7, uapi::VEVENTQ_TYPE_TEGRA241_CMDQV, 64);
        assert_eq!(
            (e.size, e.viommu_id, e.type_, e.veventq_depth),
            (32, 7, 2, 64)
        );

        assert_eq!(size_of::<b::iommu_hwpt_invalidate>(), 32);
        assert_eq!(offset_of!(b::iommu_hwpt_invalidate, data_uptr), 8);
        assert_eq!(offset_of!(b::iommu_hwpt_invalidate, data_type), 16);
        assert_eq!(offset_of!(b::iommu_hwpt_invalidate, entry_num), 24);
        let cmds = [0u8; 48];
        let i = invalidate_request(7, 1, 16, &cmds);
        assert_eq!(
            (i.size, i.hwpt_id, i.data_type, i.entry_len, i.entry_num),
            (32, 7, 1, 16, 3)
        );
        assert_eq!(size_of::<b::iommufd_vevent_header>(), 8);
        assert_eq!(size_of::<b::iommu_vevent_tegra241_cmdqv>(), 16);
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
        assert!(b.kick(1).is_ok(), "real hardware needs no kick");
    }

    #[test]
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

    #[test]
    fn vevent_parsing() {
        let mut raw = Vec::new();
        raw.extend_from_slice(&0u32.to_ne_bytes());
        raw.extend_from_slice(&5u32.to_ne_bytes());
        raw.extend_from_slice(&[1, 0, 0, 0]);
        raw.extend_from_slice(&1u32.to_ne_bytes());
        raw.extend_from_slice(&6u32.to_ne_bytes());
        let ev = parse_vevents(&raw, 4).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!((ev[0].sequence, ev[0].data.clone()), (5, vec![1, 0, 0, 0]));
        assert!(ev[1].is_lost_marker());
        assert!(parse_vevents(&raw[..10], 4).is_none());
    }
}
