//! [`Iommu`] straight on the kernel uAPI with raw ioctls. This is the
//! bring-up path and the reference column: it shows what the kernel answers
//! without any project code in between, so a disagreement between it and
//! the project's real backend is a backend bug, not a simulator one.

use crate::ops::{parse_vevents, Errno, Iommu, MockDevice, Res, VEvent, ViommuOut};
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `_IO(';', 0x80 + nr)`: iommufd ioctls carry no size or direction bits.
const fn iommufd_ioctl(nr: u32) -> libc::c_ulong {
    ((b';' as u32) << 8 | (0x80 + nr)) as libc::c_ulong
}

const IOMMU_DESTROY: libc::c_ulong = iommufd_ioctl(0);
const IOMMU_IOAS_ALLOC: libc::c_ulong = iommufd_ioctl(1);
const IOMMU_IOAS_MAP: libc::c_ulong = iommufd_ioctl(5);
const IOMMU_IOAS_UNMAP: libc::c_ulong = iommufd_ioctl(6);
const IOMMU_HWPT_ALLOC: libc::c_ulong = iommufd_ioctl(9);
const IOMMU_GET_HW_INFO: libc::c_ulong = iommufd_ioctl(0xa);
const IOMMU_HWPT_INVALIDATE: libc::c_ulong = iommufd_ioctl(0xd);
const IOMMU_VIOMMU_ALLOC: libc::c_ulong = iommufd_ioctl(0x10);
const IOMMU_VDEVICE_ALLOC: libc::c_ulong = iommufd_ioctl(0x11);
const IOMMU_VEVENTQ_ALLOC: libc::c_ulong = iommufd_ioctl(0x13);
const IOMMU_HW_QUEUE_ALLOC: libc::c_ulong = iommufd_ioctl(0x14);
const IOMMU_TEST_CMD: libc::c_ulong = iommufd_ioctl(32);

const TEST_OP_MOCK_DOMAIN: u32 = 2;
const TEST_OP_MOCK_DOMAIN_REPLACE: u32 = 10;
const TEST_OP_TRIGGER_VEVENT: u32 = 17;

const IOAS_MAP_FIXED_IOVA: u32 = 1;
const HWPT_ALLOC_NEST_PARENT: u32 = 1;
const HW_INFO_FLAG_INPUT_TYPE: u32 = 1;
/// Payload bytes of one selftest vEVENT (`virt_id`).
const SELFTEST_VEVENT_LEN: usize = 4;
const IOAS_MAP_WRITEABLE: u32 = 2;
const IOAS_MAP_READABLE: u32 = 4;

#[repr(C)]
#[derive(Default)]
struct Destroy {
    size: u32,
    id: u32,
}

#[repr(C)]
#[derive(Default)]
struct IoasAlloc {
    size: u32,
    flags: u32,
    out_ioas_id: u32,
}

#[repr(C)]
#[derive(Default)]
struct IoasMap {
    size: u32,
    flags: u32,
    ioas_id: u32,
    reserved: u32,
    user_va: u64,
    length: u64,
    iova: u64,
}

#[repr(C)]
#[derive(Default)]
struct IoasUnmap {
    size: u32,
    ioas_id: u32,
    iova: u64,
    length: u64,
}

#[repr(C)]
#[derive(Default)]
struct HwptAlloc {
    size: u32,
    flags: u32,
    dev_id: u32,
    pt_id: u32,
    out_hwpt_id: u32,
    reserved: u32,
    data_type: u32,
    data_len: u32,
    data_uptr: u64,
    fault_id: u32,
    reserved2: u32,
}

#[repr(C)]
#[derive(Default)]
struct HwInfo {
    size: u32,
    flags: u32,
    dev_id: u32,
    data_len: u32,
    data_uptr: u64,
    data_type: u32,
    out_max_pasid_log2: u8,
    reserved: [u8; 3],
    out_capabilities: u64,
}

#[repr(C)]
#[derive(Default)]
struct HwptInvalidate {
    size: u32,
    hwpt_id: u32,
    data_uptr: u64,
    data_type: u32,
    entry_len: u32,
    entry_num: u32,
    reserved: u32,
}

#[repr(C)]
#[derive(Default)]
struct ViommuAlloc {
    size: u32,
    flags: u32,
    viommu_type: u32,
    dev_id: u32,
    hwpt_id: u32,
    out_viommu_id: u32,
    data_len: u32,
    reserved: u32,
    data_uptr: u64,
}

/// `struct iommu_viommu_selftest`.
#[repr(C)]
#[derive(Default)]
struct ViommuSelftest {
    in_data: u32,
    out_data: u32,
    out_mmap_offset: u64,
    out_mmap_length: u64,
}

#[repr(C)]
#[derive(Default)]
struct VdeviceAlloc {
    size: u32,
    viommu_id: u32,
    dev_id: u32,
    out_vdevice_id: u32,
    virt_id: u64,
}

#[repr(C)]
#[derive(Default)]
struct VeventqAlloc {
    size: u32,
    flags: u32,
    viommu_id: u32,
    veventq_type: u32,
    veventq_depth: u32,
    out_veventq_id: u32,
    out_veventq_fd: u32,
    reserved: u32,
}

#[repr(C)]
#[derive(Default)]
struct HwQueueAlloc {
    size: u32,
    flags: u32,
    viommu_id: u32,
    queue_type: u32,
    index: u32,
    out_hw_queue_id: u32,
    nesting_parent_iova: u64,
    length: u64,
}

/// `struct iommu_test_cmd` with the union as twelve words (its largest
/// member is 48 bytes) followed by `last`.
#[repr(C, align(8))]
#[derive(Default)]
struct TestCmd {
    size: u32,
    op: u32,
    id: u32,
    reserved: u32,
    payload: [u32; 12],
    last: u32,
}

/// Anonymous memory handed to IOAS_MAP; kept until the context is dropped
/// because the kernel pins it.
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

/// A live mmap of the iommufd.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from a successful mmap and are unmapped once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// One open `/dev/iommu`: a fresh, empty iommufd context.
pub struct RawKernel {
    // Field order matters: mappings and event fds go before the iommufd,
    // buffers last (the kernel may still pin them until the fd closes).
    mappings: HashMap<u64, Mapping>,
    veventqs: HashMap<u32, OwnedFd>,
    next_handle: u64,
    fd: File,
    buffers: Vec<Buffer>,
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

impl RawKernel {
    /// Opens `/dev/iommu`.
    pub fn open() -> Res<Self> {
        let fd = File::options()
            .read(true)
            .write(true)
            .open("/dev/iommu")
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(Self {
            mappings: HashMap::new(),
            veventqs: HashMap::new(),
            next_handle: 1,
            fd,
            buffers: Vec::new(),
        })
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

    fn test_cmd(&self, op: u32, id: u32, payload: &[u32]) -> Res<[u32; 12]> {
        let mut cmd = TestCmd {
            size: size_of::<TestCmd>(),
            op,
            id,
            ..Default::default()
        };
        cmd.payload[..payload.len()].copy_from_slice(payload);
        self.ioctl(IOMMU_TEST_CMD, &mut cmd)?;
        Ok(cmd.payload)
    }
}

impl Iommu for RawKernel {
    fn ioas_alloc(&mut self) -> Res<u32> {
        let mut cmd = IoasAlloc {
            size: size_of::<IoasAlloc>(),
            ..Default::default()
        };
        self.ioctl(IOMMU_IOAS_ALLOC, &mut cmd)?;
        Ok(cmd.out_ioas_id)
    }

    fn ioas_map_fixed(&mut self, ioas: u32, iova: u64, length: u64) -> Res<()> {
        let len = usize::try_from(length).map_err(|_| Errno(libc::EOVERFLOW))?;
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len.max(1),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(last_errno());
        }
        self.buffers.push(Buffer {
            ptr,
            len: len.max(1),
        });
        let mut cmd = IoasMap {
            size: size_of::<IoasMap>(),
            flags: IOAS_MAP_FIXED_IOVA | IOAS_MAP_WRITEABLE | IOAS_MAP_READABLE,
            ioas_id: ioas,
            user_va: ptr as u64,
            length,
            iova,
            ..Default::default()
        };
        self.ioctl(IOMMU_IOAS_MAP, &mut cmd)
    }

    fn ioas_unmap(&mut self, ioas: u32, iova: u64, length: u64) -> Res<()> {
        let mut cmd = IoasUnmap {
            size: size_of::<IoasUnmap>(),
            ioas_id: ioas,
            iova,
            length,
        };
        self.ioctl(IOMMU_IOAS_UNMAP, &mut cmd)
    }

    fn mock_domain(&mut self, ioas: u32) -> Res<MockDevice> {
        let out = self.test_cmd(TEST_OP_MOCK_DOMAIN, ioas, &[])?;
        Ok(MockDevice {
            stdev: out[0],
            hwpt: out[1],
            idev: out[2],
        })
    }

    fn mock_domain_replace(&mut self, stdev: u32, pt: u32) -> Res<()> {
        self.test_cmd(TEST_OP_MOCK_DOMAIN_REPLACE, stdev, &[pt])
            .map(|_| ())
    }

    fn hwpt_alloc_nest_parent(&mut self, dev: u32, ioas: u32) -> Res<u32> {
        self.hwpt_alloc(dev, ioas, HWPT_ALLOC_NEST_PARENT)
    }

    fn hwpt_alloc_nested(&mut self, dev: u32, pt: u32, data_type: u32, data: &[u8]) -> Res<u32> {
        let mut cmd = HwptAlloc {
            size: size_of::<HwptAlloc>(),
            dev_id: dev,
            pt_id: pt,
            data_type,
            data_len: data.len() as u32,
            data_uptr: data.as_ptr() as u64,
            ..Default::default()
        };
        self.ioctl(IOMMU_HWPT_ALLOC, &mut cmd)?;
        Ok(cmd.out_hwpt_id)
    }

    fn get_hw_info(&mut self, dev: u32, input_type: Option<u32>) -> Res<(u32, u32)> {
        // struct iommu_test_hw_info { flags, test_reg }
        let mut data: [u32; 2] = [0; 2];
        let mut cmd = HwInfo {
            size: size_of::<HwInfo>(),
            flags: if input_type.is_some() {
                HW_INFO_FLAG_INPUT_TYPE
            } else {
                0
            },
            dev_id: dev,
            data_len: 8,
            data_uptr: data.as_mut_ptr() as u64,
            data_type: input_type.unwrap_or(0),
            ..Default::default()
        };
        self.ioctl(IOMMU_GET_HW_INFO, &mut cmd)?;
        Ok((cmd.data_type, data[1]))
    }

    fn viommu_alloc(
        &mut self,
        dev: u32,
        hwpt: u32,
        viommu_type: u32,
        in_data: Option<u32>,
    ) -> Res<(u32, Option<ViommuOut>)> {
        let mut data = ViommuSelftest {
            in_data: in_data.unwrap_or(0),
            ..Default::default()
        };
        let mut cmd = ViommuAlloc {
            size: size_of::<ViommuAlloc>(),
            viommu_type,
            dev_id: dev,
            hwpt_id: hwpt,
            ..Default::default()
        };
        if in_data.is_some() {
            cmd.data_len = size_of::<ViommuSelftest>();
            cmd.data_uptr = &mut data as *mut ViommuSelftest as u64;
        }
        self.ioctl(IOMMU_VIOMMU_ALLOC, &mut cmd)?;
        let out = in_data.map(|_| ViommuOut {
            out_data: Some(data.out_data),
            mmap_offset: data.out_mmap_offset,
            mmap_length: data.out_mmap_length,
        });
        Ok((cmd.out_viommu_id, out))
    }

    fn mmap(&mut self, offset: u64, length: u64) -> Res<u64> {
        let len = usize::try_from(length).map_err(|_| Errno(libc::EINVAL))?;
        let off = libc::off_t::try_from(offset).map_err(|_| Errno(libc::EINVAL))?;
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
            return Err(last_errno());
        }
        let handle = self.next_handle;
        self.next_handle += 1;
        self.mappings.insert(handle, Mapping { ptr, len });
        Ok(handle)
    }

    fn mmap_read_u32(&mut self, handle: u64, at: u64) -> Res<u32> {
        let m = self.mappings.get(&handle).ok_or(Errno(libc::EBADF))?;
        let at = usize::try_from(at).map_err(|_| Errno(libc::EINVAL))?;
        if at.checked_add(4).is_none_or(|end| end > m.len) || at % 4 != 0 {
            return Err(Errno(libc::EINVAL));
        }
        // SAFETY: in bounds and aligned inside a live mapping; volatile
        // because the kernel owns the page contents.
        Ok(unsafe { std::ptr::read_volatile((m.ptr as *const u8).add(at) as *const u32) })
    }

    fn munmap(&mut self, handle: u64) -> Res<()> {
        let m = self.mappings.remove(&handle).ok_or(Errno(libc::EBADF))?;
        // SAFETY: unmapping exactly what mmap returned, once (forget skips
        // the Drop that would unmap it again).
        let rc = unsafe { libc::munmap(m.ptr, m.len) };
        std::mem::forget(m);
        if rc != 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    fn vdevice_alloc(&mut self, viommu: u32, dev: u32, virt_id: u64) -> Res<u32> {
        let mut cmd = VdeviceAlloc {
            size: size_of::<VdeviceAlloc>(),
            viommu_id: viommu,
            dev_id: dev,
            virt_id,
            ..Default::default()
        };
        self.ioctl(IOMMU_VDEVICE_ALLOC, &mut cmd)?;
        Ok(cmd.out_vdevice_id)
    }

    fn hw_queue_alloc(
        &mut self,
        viommu: u32,
        queue_type: u32,
        index: u32,
        iova: u64,
        length: u64,
    ) -> Res<u32> {
        let mut cmd = HwQueueAlloc {
            size: size_of::<HwQueueAlloc>(),
            viommu_id: viommu,
            queue_type,
            index,
            nesting_parent_iova: iova,
            length,
            ..Default::default()
        };
        self.ioctl(IOMMU_HW_QUEUE_ALLOC, &mut cmd)?;
        Ok(cmd.out_hw_queue_id)
    }

    fn veventq_alloc(&mut self, viommu: u32, veventq_type: u32, depth: u32) -> Res<u32> {
        let mut cmd = VeventqAlloc {
            size: size_of::<VeventqAlloc>(),
            viommu_id: viommu,
            veventq_type,
            veventq_depth: depth,
            ..Default::default()
        };
        self.ioctl(IOMMU_VEVENTQ_ALLOC, &mut cmd)?;
        // SAFETY: the kernel just installed this fd for us; we own it.
        let fd = unsafe { OwnedFd::from_raw_fd(cmd.out_veventq_fd as i32) };
        self.veventqs.insert(cmd.out_veventq_id, fd);
        Ok(cmd.out_veventq_id)
    }

    fn veventq_read(&mut self, veventq: u32) -> Res<Vec<VEvent>> {
        let bytes = self.veventq_read_count(veventq, 1 << 16)?;
        Ok(parse_vevents(&bytes, SELFTEST_VEVENT_LEN))
    }

    fn trigger_vevent(&mut self, dev: u32) -> Res<()> {
        self.test_cmd(TEST_OP_TRIGGER_VEVENT, 0, &[dev]).map(|_| ())
    }

    fn invalidate(
        &mut self,
        id: u32,
        data_type: u32,
        entry_len: u32,
        entries: &[u8],
    ) -> (Res<()>, u32) {
        let num = if entry_len == 0 {
            0
        } else {
            entries.len() / entry_len as usize
        };
        self.invalidate_raw(id, data_type, entry_len, num as u32, Some(entries))
    }

    fn destroy(&mut self, id: u32) -> Res<()> {
        // A vEVENTQ's file holds a reference on the object: a VMM closes it
        // first, as `vdev` does when it drops a vEVENTQ.
        self.veventqs.remove(&id);
        self.destroy_keep_fds(id)
    }
}

impl RawKernel {
    /// `IOMMU_DESTROY` leaving any vEVENTQ file open.
    pub fn destroy_keep_fds(&mut self, id: u32) -> Res<()> {
        let mut cmd = Destroy {
            size: size_of::<Destroy>(),
            id,
        };
        self.ioctl(IOMMU_DESTROY, &mut cmd)
    }
}

impl RawKernel {
    /// `IOMMU_HWPT_ALLOC` without driver data, any flags.
    pub fn hwpt_alloc(&mut self, dev: u32, pt: u32, flags: u32) -> Res<u32> {
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
    pub fn veventq_read_count(&mut self, handle: u32, count: usize) -> Res<Vec<u8>> {
        let fd = self.veventqs.get(&handle).ok_or(Errno(libc::EBADF))?;
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
        &mut self,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn ioctl_numbers() {
        assert_eq!(IOMMU_DESTROY, 0x3b80);
        assert_eq!(IOMMU_IOAS_ALLOC, 0x3b81);
        assert_eq!(IOMMU_HWPT_INVALIDATE, 0x3b8d);
        assert_eq!(IOMMU_VIOMMU_ALLOC, 0x3b90);
        assert_eq!(IOMMU_HW_QUEUE_ALLOC, 0x3b94);
        assert_eq!(IOMMU_TEST_CMD, 0x3ba0);
    }

    #[test]
    fn uapi_layouts() {
        assert_eq!(size_of::<IoasMap>(), 40);
        assert_eq!(size_of::<IoasUnmap>(), 24);
        assert_eq!(size_of::<HwptAlloc>(), 48);
        assert_eq!(offset_of!(HwptAlloc, data_uptr), 32);
        assert_eq!(size_of::<HwInfo>(), 40);
        assert_eq!(offset_of!(HwInfo, data_type), 24);
        assert_eq!(size_of::<HwptInvalidate>(), 32);
        assert_eq!(size_of::<ViommuAlloc>(), 40);
        assert_eq!(size_of::<ViommuSelftest>(), 24);
        assert_eq!(size_of::<VdeviceAlloc>(), 24);
        assert_eq!(size_of::<VeventqAlloc>(), 32);
        assert_eq!(size_of::<HwQueueAlloc>(), 40);
        // 16-byte head, 48-byte union, `last`, padded to 8.
        assert_eq!(size_of::<TestCmd>(), 72);
        assert_eq!(offset_of!(TestCmd, last), 64);
    }
}
