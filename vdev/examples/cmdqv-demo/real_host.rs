//! The pieces a VMM on a real host provides besides guest RAM (the same
//! `GuestMemoryMmap` as on the simulated host, [`crate::host::guest_ram`]):
//! VFIO cdevs bound to the iommufd, and their attachment ioctls. Facts from
//! `include/uapi/linux/vfio.h` (ioctl numbers, structure layouts).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

use crate::host::{guest_ram, Host};
use crate::{ram_len, Args, RAM};
use vdev::backend::real::IommufdBackend;
use vdev::backend::{Backend, Device, Error, ObjId, ObjectTypes, Op};
use vdev::vmm::{DeviceAttach, GuestMemory};
use vm_memory::{GuestAddress, GuestMemory as _};

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

/// The host for `args`: its `--vfio` devices bound to `/dev/iommu`; with
/// several vSMMUs the k-th device is vSMMU k's (the VMM must name them in
/// the order of their SMMUs: a device behind another SMMU is refused with
/// the kernel's EINVAL when it is plugged).
pub fn open(args: &Args) -> Result<Host, String> {
    let paths = &args.vfio;
    // Two devices for one vSMMU (the script's two vSIDs), one per vSMMU
    // otherwise.
    let take = if args.vsmmus == 1 { 2 } else { args.vsmmus };
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
    let mut order = Vec::new();
    for p in paths.iter().take(take) {
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
        order.push(bind.out_devid);
    }
    let ram = guest_ram(ram_len(args.lvcmdqs, args.vsmmus))?;
    // The IOAS maps guest RAM at IOVA = GPA from its host address.
    let user_va = ram
        .get_host_address(GuestAddress(RAM))
        .map_err(|e| format!("guest RAM has no host address: {e}"))? as u64;
    let page = GuestMemory::backing_page_size(ram.as_ref(), RAM)
        .ok_or("guest RAM without a host address")?;
    let backend: Arc<dyn Backend> = Arc::new(IommufdBackend::from_file(
        iommu.try_clone().map_err(|e| e.to_string())?,
        ObjectTypes::TEGRA241,
    ));
    let devices: Vec<Arc<Device>> = order
        .iter()
        .map(|id| Device::external(&backend, *id))
        .collect();
    let units = if args.vsmmus == 1 {
        vec![devices]
    } else {
        devices.into_iter().map(|d| vec![d]).collect()
    };
    Ok(Host {
        backend,
        sim: None,
        mem: ram,
        attach: Arc::new(Vfio { devs }),
        units,
        ram_user_va: user_va,
        backing: page,
        baseline: 0,
        _iommu: Some(iommu),
    })
}
