//! The pieces a VMM on a real host provides: guest RAM in host memory, VFIO
//! cdevs bound to the iommufd, and their attachment ioctls. Facts from
//! `include/uapi/linux/vfio.h` (ioctl numbers, structure layouts).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

use crate::host::Host;
use crate::{BACKING, RAM, RAM_LEN};
use vdev::backend::real::IommufdBackend;
use vdev::backend::{Backend, Device, Error, ObjId, ObjectTypes, Op};
use vdev::vmm::{DeviceAttach, GuestMemory};

/// `VFIO_TYPE` and `VFIO_BASE`.
const VFIO_TYPE: u64 = b';' as u64;
const VFIO_BASE: u64 = 100;
/// `_IO(VFIO_TYPE, VFIO_BASE + n)`.
const fn vfio_io(n: u64) -> u64 {
    (VFIO_TYPE << 8) | (VFIO_BASE + n)
}
const VFIO_DEVICE_BIND_IOMMUFD: u64 = vfio_io(18);
const VFIO_DEVICE_ATTACH_IOMMUFD_PT: u64 = vfio_io(19);
const VFIO_DEVICE_DETACH_IOMMUFD_PT: u64 = vfio_io(20);

#[repr(C)]
struct BindIommufd {
    argsz: u32,
    flags: u32,
    iommufd: i32,
    out_devid: u32,
}

#[repr(C)]
struct AttachPt {
    argsz: u32,
    flags: u32,
    pt_id: u32,
}

#[repr(C)]
struct DetachPt {
    argsz: u32,
    flags: u32,
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Guest RAM: anonymous host memory, huge pages when the host has them.
pub struct HostRam {
    ptr: *mut u8,
    len: usize,
    page: u64,
}

// SAFETY: plain anonymous memory; the demo's accesses are bounds-checked
// copies, which any thread may perform.
unsafe impl Send for HostRam {}
// SAFETY: see above.
unsafe impl Sync for HostRam {}

impl HostRam {
    fn new(len: usize) -> Result<Self, String> {
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        for (extra, page) in [(libc::MAP_HUGETLB, BACKING), (0, 4096)] {
            // SAFETY: a fresh anonymous mapping; nothing else is touched.
            let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags | extra, -1, 0) };
            if p != libc::MAP_FAILED {
                return Ok(HostRam {
                    ptr: p as *mut u8,
                    len,
                    page,
                });
            }
        }
        Err(format!(
            "cannot allocate {len} bytes of guest RAM (errno {})",
            errno()
        ))
    }

    fn range(&self, gpa: u64, n: usize) -> Option<usize> {
        let off = gpa.checked_sub(RAM)? as usize;
        (off.checked_add(n)? <= self.len).then_some(off)
    }
}

impl Drop for HostRam {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping `new` made, unmapped once.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

impl GuestMemory for HostRam {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> bool {
        let Some(off) = self.range(gpa, buf.len()) else {
            return false;
        };
        // SAFETY: in bounds of the live mapping.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(off), buf.as_mut_ptr(), buf.len()) };
        true
    }
    fn write(&self, gpa: u64, data: &[u8]) -> bool {
        let Some(off) = self.range(gpa, data.len()) else {
            return false;
        };
        // SAFETY: in bounds of the live, writable mapping.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(off), data.len()) };
        true
    }
    fn host_phys(&self, _gpa: u64) -> Option<u64> {
        None
    }
    fn backing_page_size(&self, gpa: u64) -> Option<u64> {
        self.range(gpa, 1).map(|_| self.page)
    }
}

/// VFIO cdevs bound to the iommufd, by iommufd device id.
pub struct Vfio {
    devs: BTreeMap<ObjId, File>,
}

impl DeviceAttach for Vfio {
    fn attach(&self, dev_id: ObjId, pt: ObjId) -> vdev::backend::Result<()> {
        let f = self
            .devs
            .get(&dev_id)
            .ok_or(Error::new(Op::VfioAttach, libc::ENODEV))?;
        let mut a = AttachPt {
            argsz: std::mem::size_of::<AttachPt>() as u32,
            flags: 0,
            pt_id: pt,
        };
        // SAFETY: a correctly sized vfio_device_attach_iommufd_pt (minimum
        // layout, argsz says so) live for the call.
        let rc = unsafe { libc::ioctl(f.as_raw_fd(), VFIO_DEVICE_ATTACH_IOMMUFD_PT as _, &mut a) };
        if rc < 0 {
            return Err(Error::new(Op::VfioAttach, errno()));
        }
        Ok(())
    }
    fn detach(&self, dev_id: ObjId) -> vdev::backend::Result<()> {
        let f = self
            .devs
            .get(&dev_id)
            .ok_or(Error::new(Op::VfioDetach, libc::ENODEV))?;
        let mut d = DetachPt {
            argsz: std::mem::size_of::<DetachPt>() as u32,
            flags: 0,
        };
        // SAFETY: as in `attach`.
        let rc = unsafe { libc::ioctl(f.as_raw_fd(), VFIO_DEVICE_DETACH_IOMMUFD_PT as _, &mut d) };
        if rc < 0 {
            return Err(Error::new(Op::VfioDetach, errno()));
        }
        Ok(())
    }
}

pub fn open(paths: &[String]) -> Result<Host, String> {
    let iommu = File::options()
        .read(true)
        .write(true)
        .open("/dev/iommu")
        .map_err(|e| {
            format!(
                "open(/dev/iommu): {e}\n  the iommufd backend needs a Linux host with CONFIG_IOMMUFD \
                 (on Grace also CONFIG_TEGRA241_CMDQV, CONFIG_VFIO_DEVICE_CDEV and the device bound to vfio-pci)"
            )
        })?;
    let iommufd = iommu.as_raw_fd();
    let mut devs = BTreeMap::new();
    for p in paths.iter().take(2) {
        let f = File::options()
            .read(true)
            .write(true)
            .open(p)
            .map_err(|e| format!("open({p}): {e}"))?;
        let mut bind = BindIommufd {
            argsz: std::mem::size_of::<BindIommufd>() as u32,
            flags: 0,
            iommufd,
            out_devid: 0,
        };
        // SAFETY: a correctly sized vfio_device_bind_iommufd (minimum
        // layout) live for the call; the kernel writes `out_devid`.
        let rc = unsafe { libc::ioctl(f.as_raw_fd(), VFIO_DEVICE_BIND_IOMMUFD as _, &mut bind) };
        if rc < 0 {
            return Err(format!("{p}: {}", Error::new(Op::VfioBind, errno())));
        }
        devs.insert(bind.out_devid, f);
    }
    let ram = Arc::new(HostRam::new(RAM_LEN as usize)?);
    let backend: Arc<dyn Backend> = Arc::new(IommufdBackend::from_file(
        iommu.try_clone().map_err(|e| e.to_string())?,
        ObjectTypes::TEGRA241,
    ));
    let devices = devs
        .keys()
        .map(|id| Device::external(&backend, *id))
        .collect();
    let user_va = ram.ptr as u64;
    let page = ram.page;
    Ok(Host {
        backend,
        sim: None,
        mem: ram,
        attach: Arc::new(Vfio { devs }),
        devices,
        ram_user_va: user_va,
        backing: page,
        baseline: 0,
        _iommu: Some(iommu),
    })
}
