//! What a failed backend call reports: the call ([`Op`]) and Linux's errno.

use std::fmt;

/// Which kernel call failed; part of every [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Opening `/dev/iommu` (the backend constructor).
    Open,
    /// `IOMMU_GET_HW_INFO`.
    GetHwInfo,
    /// `IOMMU_IOAS_ALLOC`.
    IoasAlloc,
    /// `IOMMU_IOAS_MAP`.
    IoasMap,
    /// `IOMMU_IOAS_UNMAP`.
    IoasUnmap,
    /// `IOMMU_HWPT_ALLOC` (nesting parent or nested).
    HwptAlloc,
    /// `IOMMU_HWPT_INVALIDATE`.
    HwptInvalidate,
    /// `IOMMU_VIOMMU_ALLOC`.
    ViommuAlloc,
    /// `IOMMU_VDEVICE_ALLOC`.
    VdeviceAlloc,
    /// `IOMMU_HW_QUEUE_ALLOC`.
    HwQueueAlloc,
    /// `IOMMU_VEVENTQ_ALLOC`.
    VeventqAlloc,
    /// Sharing a vEVENTQ's pollable descriptor ([`crate::backend::Backend::veventq_fd`]).
    VeventqFd,
    /// `read()` on a vEVENTQ file descriptor.
    VeventqRead,
    /// `IOMMU_DESTROY`.
    Destroy,
    /// `mmap()` of an iommufd region.
    Mmap,
    /// `IOMMU_TEST_CMD` (selftest ops).
    TestCmd,
    /// The simulator's hardware kick ([`Kick::kick`](super::Kick::kick)).
    Kick,
    /// `VFIO_DEVICE_BIND_IOMMUFD` on a VFIO device cdev (what gives a VMM the
    /// iommufd device id); not an iommufd call, the VMM makes it.
    VfioBind,
    /// `VFIO_DEVICE_ATTACH_IOMMUFD_PT` on a VFIO device cdev (or the
    /// simulator's `SimBackend::attach_device`).
    VfioAttach,
    /// `VFIO_DEVICE_DETACH_IOMMUFD_PT` on a VFIO device cdev (or the
    /// simulator's `SimBackend::detach_device`).
    VfioDetach,
    /// The simulator's SMMUv3 event report (`SimBackend::report_smmu_event`):
    /// the kernel's event handler refused to forward the record to user space.
    SmmuEvent,
}

impl Op {
    /// Every call, in declaration order (fault-injection sweeps and fuzzers
    /// iterate over it).
    pub const ALL: &'static [Op] = &[
        Op::Open,
        Op::GetHwInfo,
        Op::IoasAlloc,
        Op::IoasMap,
        Op::IoasUnmap,
        Op::HwptAlloc,
        Op::HwptInvalidate,
        Op::ViommuAlloc,
        Op::VdeviceAlloc,
        Op::HwQueueAlloc,
        Op::VeventqAlloc,
        Op::VeventqFd,
        Op::VeventqRead,
        Op::Destroy,
        Op::Mmap,
        Op::TestCmd,
        Op::Kick,
        Op::VfioBind,
        Op::VfioAttach,
        Op::VfioDetach,
        Op::SmmuEvent,
    ];

    /// The kernel's name for the call, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Op::Open => "open(/dev/iommu)",
            Op::GetHwInfo => "IOMMU_GET_HW_INFO",
            Op::IoasAlloc => "IOMMU_IOAS_ALLOC",
            Op::IoasMap => "IOMMU_IOAS_MAP",
            Op::IoasUnmap => "IOMMU_IOAS_UNMAP",
            Op::HwptAlloc => "IOMMU_HWPT_ALLOC",
            Op::HwptInvalidate => "IOMMU_HWPT_INVALIDATE",
            Op::ViommuAlloc => "IOMMU_VIOMMU_ALLOC",
            Op::VdeviceAlloc => "IOMMU_VDEVICE_ALLOC",
            Op::HwQueueAlloc => "IOMMU_HW_QUEUE_ALLOC",
            Op::VeventqAlloc => "IOMMU_VEVENTQ_ALLOC",
            Op::VeventqFd => "vEVENTQ descriptor",
            Op::VeventqRead => "read(vEVENTQ)",
            Op::Destroy => "IOMMU_DESTROY",
            Op::Mmap => "mmap(iommufd)",
            Op::TestCmd => "IOMMU_TEST_CMD",
            Op::Kick => "kick",
            Op::VfioBind => "VFIO_DEVICE_BIND_IOMMUFD",
            Op::VfioAttach => "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
            Op::VfioDetach => "VFIO_DEVICE_DETACH_IOMMUFD_PT",
            Op::SmmuEvent => "SMMU event report",
        }
    }
}

/// A failed backend call: the call and Linux's errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The call that failed.
    pub op: Op,
    /// Linux errno (positive, e.g. `libc::EINVAL`).
    pub errno: i32,
    /// For [`Op::HwptInvalidate`]: how many entries the kernel handled before failing.
    pub handled: Option<u32>,
}

impl Error {
    /// An error of `op` with `errno`.
    pub fn new(op: Op, errno: i32) -> Self {
        Error {
            op,
            errno,
            handled: None,
        }
    }

    /// Linux's errno.
    pub fn errno(&self) -> i32 {
        self.errno
    }
}

/// The symbolic name of the errnos the kernel rules and their tests meet
/// (`"EINVAL"`), or `"E?"`.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::ERANGE => "ERANGE",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSYS => "ENOSYS",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EACCES => "EACCES",
        _ => "E?",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {} ({})",
            self.op.name(),
            errno_name(self.errno),
            std::io::Error::from_raw_os_error(self.errno)
        )?;
        if let Some(n) = self.handled {
            write!(f, " after {n} handled entries")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Result of a backend call.
pub type Result<T> = std::result::Result<T, Error>;
