//! The conformance cases: the whole vIOMMU lifecycle and every error the
//! selftest mock enforces, each written once against [`Ctx`] and run on a
//! fresh context per backend. Expected answers are the kernel's (facts from
//! Linux's iommufd core, its selftest mock and the selftests' `iommufd.c`);
//! the differential check compares the backends with each other, the
//! expectation guards against both being wrong the same way.
//!
//! A case is a row of [`table::all`]: its name, the kernel's answer, the
//! [`Fixture`] it starts from and the requests under test (most cases are one
//! request on a fixture and differ from their neighbours by one argument).
//! The few multi-step stories are in [`flows`].

mod flows;
mod table;

use std::fmt::Write;

use crate::ctx::{Ctx, Errno, MockDevice, Res};
use vdev::backend::VEvent;

pub use table::all;

/// Page size of the booted x86-64 kernel (the mock maps in CPU pages).
/// A parameter of the test kernel, not a uAPI value.
pub const PAGE: u64 = 4096;
/// First IOVA of the mock domain's aperture (`MOCK_APERTURE_START` of the
/// selftest mock: selftest interface, not in iommufd-bindings nor in vdev's
/// `selftest` module, which does not need it).
pub const MOCK_APERTURE_START: u64 = 1 << 24;

// The selftest interface (not uAPI, so not in iommufd-bindings) from vdev's
// `selftest` module, which the simulator and the real backend use too.
pub use vdev::backend::uapi::selftest::{
    DEV_CACHE_ID_MAX as MOCK_DEV_CACHE_ID_MAX, HWPT_DATA_SELFTEST, HW_INFO_TYPE_SELFTEST,
    HW_QUEUE_MAX, HW_QUEUE_TYPE_SELFTEST, INVALIDATE_FLAG_ALL, VEVENTQ_TYPE_SELFTEST,
    VIOMMU_INVALIDATE_DATA_SELFTEST as VIOMMU_INVALIDATE_SELFTEST, VIOMMU_TYPE_SELFTEST,
};
/// The core's upper bound on `veventq_depth` (kernel-internal, so not in
/// iommufd-bindings; vdev's note says where it comes from).
pub use vdev::backend::uapi::VEVENTQ_MAX_DEPTH;

/// `IOMMU_HW_QUEUE_TYPE_DEFAULT`, from iommufd-bindings.
pub const HW_QUEUE_TYPE_DEFAULT: u32 =
    iommufd_bindings::iommufd::iommu_hw_queue_type_IOMMU_HW_QUEUE_TYPE_DEFAULT;
/// `IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID`: selftest interface, not
/// in iommufd-bindings nor in vdev's `selftest` module (only these cases
/// send it, to see it refused).
pub const VIOMMU_INVALIDATE_SELFTEST_INVALID: u32 = 0x0dad_beef;
/// `IOMMU_TEST_IOTLB_DEFAULT` (initial IOTLB tag of a nested domain):
/// selftest interface, not in iommufd-bindings nor in vdev's `selftest`
/// module (only these cases send it, as a nested domain's data).
pub const IOTLB_DEFAULT: u32 = 0x0bad_beef;
/// Size of one `struct iommu_viommu_invalidate_selftest`.
pub const INV_ENTRY_LEN: u32 =
    std::mem::size_of::<vdev::backend::uapi::selftest::IommuViommuInvalidateSelftest>() as u32;

/// Why a case did not produce a comparable result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fail {
    /// The request under test failed: the answer to compare.
    Check(Errno),
    /// The request under test failed and wrote back a count.
    CheckNum(Errno, u32),
    /// A named step of a multi-step case failed.
    Step(&'static str, Errno),
    /// A preparatory step failed: the case tested nothing.
    Setup(&'static str, Errno),
    /// The backend does not offer an operation the case needs.
    Unsupported(&'static str),
    /// The backend panicked.
    Panicked,
}

/// A case's result: on success the values the backend returned, rendered.
pub type Outcome = Result<String, Fail>;

/// Renders an outcome as printed on the console.
pub fn show(o: &Outcome) -> String {
    match o {
        Ok(v) if v.is_empty() => "ok".into(),
        Ok(v) => format!("ok({v})"),
        Err(Fail::Check(e)) => e.to_string(),
        Err(Fail::CheckNum(e, n)) => format!("{e}(num={n})"),
        Err(Fail::Step(step, e)) => format!("{e}@{step}"),
        Err(Fail::Setup(step, e)) => format!("setup-failed({step}:{e})"),
        Err(Fail::Unsupported(what)) => format!("unsupported({what})"),
        Err(Fail::Panicked) => "panicked".into(),
    }
}

/// What the kernel is expected to answer.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// Success (the values are compared between backends only).
    Ok,
    /// This errno from the request under test.
    Err(i32),
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Ok => f.write_str("ok"),
            Expect::Err(e) => write!(f, "{}", Errno(*e)),
        }
    }
}

impl Expect {
    /// Whether an outcome is the expected kind of answer.
    pub fn matches(self, o: &Outcome) -> bool {
        match (self, o) {
            (Expect::Ok, Ok(_)) => true,
            (Expect::Err(e), Err(Fail::Check(got))) => got.0 == e,
            (Expect::Err(e), Err(Fail::CheckNum(got, _))) => got.0 == e,
            _ => false,
        }
    }
}

/// What a case starts from; each level adds to the one above it, every
/// step a setup step (its failure means the case tested nothing).
#[derive(Clone, Copy, Debug)]
pub enum Fixture {
    /// Nothing: the case builds what it needs.
    Empty,
    /// An IOAS.
    Ioas,
    /// An IOAS and a mock device attached to it.
    Device,
    /// The device's nesting-parent HWPT on the IOAS: what a vIOMMU needs.
    Parent,
    /// The parent and a selftest vIOMMU without driver data.
    Viommu,
    /// The parent and a selftest vIOMMU with driver data (`in_data`
    /// 0xbeef): its mmap region.
    ViommuData,
    /// The vIOMMU with the first two pages of the aperture mapped.
    Mapped,
    /// The mapped vIOMMU with HW queues 0 and 1 on those pages.
    TwoQueues,
    /// The vIOMMU with the device's vDEVICE 0x99 (invalidation cases).
    Vdevice,
    /// The vIOMMU with a vEVENTQ of this depth, vDEVICE 0x99 and the device
    /// attached to a nested domain: what delivering the mock's vEVENTs needs.
    Vevents(u32),
}

/// The objects of a [`Fixture`]; those it does not build are 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fx {
    pub ioas: u32,
    pub dev: MockDevice,
    pub parent: u32,
    pub viommu: u32,
    /// [`Fixture::ViommuData`]: mmap offset and length of the region.
    pub mmap: (u64, u64),
    /// [`Fixture::TwoQueues`]: the queues.
    pub q: [u32; 2],
    /// [`Fixture::Vevents`]: the vEVENTQ.
    pub veventq: u32,
}

impl Fixture {
    /// Builds the fixture on `b`.
    fn build(self, b: &mut Ctx) -> Result<Fx, Fail> {
        use Fixture::*;
        let mut fx = Fx::default();
        if let Empty = self {
            return Ok(fx);
        }
        fx.ioas = setup("ioas_alloc", b.ioas_alloc())?;
        if let Ioas = self {
            return Ok(fx);
        }
        fx.dev = setup("mock_domain", b.mock_domain(fx.ioas))?;
        if let Device = self {
            return Ok(fx);
        }
        fx.parent = setup(
            "hwpt_alloc_parent",
            b.hwpt_alloc_nest_parent(fx.dev.idev, fx.ioas),
        )?;
        match self {
            Parent => return Ok(fx),
            ViommuData => {
                let (viommu, out) = setup(
                    "viommu_alloc_data",
                    b.viommu_alloc(fx.dev.idev, fx.parent, VIOMMU_TYPE_SELFTEST, Some(0xbeef)),
                )?;
                let out = out.ok_or(Fail::Unsupported("viommu driver data"))?;
                fx.viommu = viommu;
                fx.mmap = (out.mmap_offset, out.mmap_length);
                return Ok(fx);
            }
            _ => {}
        }
        let (viommu, _) = setup(
            "viommu_alloc",
            b.viommu_alloc(fx.dev.idev, fx.parent, VIOMMU_TYPE_SELFTEST, None),
        )?;
        fx.viommu = viommu;
        match self {
            Mapped | TwoQueues => {
                setup(
                    "ioas_map",
                    b.ioas_map_fixed(fx.ioas, MOCK_APERTURE_START, PAGE),
                )?;
                setup(
                    "ioas_map2",
                    b.ioas_map_fixed(fx.ioas, MOCK_APERTURE_START + PAGE, PAGE),
                )?;
                if let TwoQueues = self {
                    fx.q[0] = setup("hw_queue_0", queue(b, &fx, 0, MOCK_APERTURE_START, PAGE))?;
                    fx.q[1] = setup(
                        "hw_queue_1",
                        queue(b, &fx, 1, MOCK_APERTURE_START + PAGE, PAGE),
                    )?;
                }
            }
            Vdevice => {
                setup("vdevice_alloc", b.vdevice_alloc(viommu, fx.dev.idev, 0x99))?;
            }
            Vevents(depth) => {
                fx.veventq = setup("veventq_alloc", veventq(b, &fx, depth))?;
                setup("vdevice_alloc", b.vdevice_alloc(viommu, fx.dev.idev, 0x99))?;
                attach_nested(b, &fx)?;
            }
            _ => {}
        }
        Ok(fx)
    }
}

/// One conformance case.
pub struct Case {
    /// Name printed on the console.
    pub name: &'static str,
    /// The kernel's answer per the selftest mock.
    pub expect: Expect,
    /// What the case starts from.
    pub fixture: Fixture,
    /// The requests under test, on the fixture.
    pub run: fn(&mut Ctx, &Fx) -> Outcome,
}

impl Case {
    /// Runs the case on a fresh context.
    pub fn outcome(&self, b: &mut Ctx) -> Outcome {
        let fx = self.fixture.build(b)?;
        (self.run)(b, &fx)
    }
}

/// `struct iommu_hwpt_selftest { iotlb, pagetable_type = 0 }`.
pub fn hwpt_data(iotlb: u32) -> Vec<u8> {
    let mut d = iotlb.to_ne_bytes().to_vec();
    d.extend_from_slice(&0u32.to_ne_bytes());
    d
}

/// Maps a preparatory step's error.
pub fn setup<T>(step: &'static str, r: Res<T>) -> Result<T, Fail> {
    r.map_err(|e| Fail::Setup(step, e))
}

/// Maps the request under test's error.
pub fn check<T>(r: Res<T>) -> Result<T, Fail> {
    r.map_err(Fail::Check)
}

/// The request under test whose success returns nothing to compare.
fn only<T>(r: Res<T>) -> Outcome {
    check(r).map(|_| String::new())
}

/// Labels the failing step of a multi-step case.
fn step<T>(name: &'static str, r: Res<T>) -> Result<T, Fail> {
    r.map_err(|e| Fail::Step(name, e))
}

/// A selftest nested domain with the default IOTLB tag on `pt`.
fn nested(b: &mut Ctx, dev: u32, pt: u32) -> Res<u32> {
    b.hwpt_alloc_nested(dev, pt, HWPT_DATA_SELFTEST, &hwpt_data(IOTLB_DEFAULT))
}

/// A selftest HW queue of the fixture's vIOMMU.
fn queue(b: &mut Ctx, fx: &Fx, index: u32, iova: u64, length: u64) -> Res<u32> {
    b.hw_queue_alloc(fx.viommu, HW_QUEUE_TYPE_SELFTEST, index, iova, length)
}

/// A selftest vEVENTQ of the fixture's vIOMMU.
fn veventq(b: &mut Ctx, fx: &Fx, depth: u32) -> Res<u32> {
    b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, depth)
}

/// Allocates a nested domain on the vIOMMU and attaches the mock device
/// to it: the mock reports vEVENTs only for such a device.
fn attach_nested(b: &mut Ctx, fx: &Fx) -> Result<u32, Fail> {
    let nested = setup("hwpt_alloc_nested", nested(b, fx.dev.idev, fx.viommu))?;
    setup("attach_nested", b.mock_domain_replace(fx.dev.stdev, nested))?;
    Ok(nested)
}

/// Renders vEVENTs: sequence, lost marker, payload as 32-bit words.
pub fn show_vevents(events: &[VEvent]) -> String {
    let mut out = format!("n={}", events.len());
    for e in events {
        if e.flags & 1 != 0 {
            let _ = write!(out, " [lost seq={}]", e.sequence);
            continue;
        }
        let _ = write!(out, " [seq={} flags={:#x}", e.sequence, e.flags);
        for w in e.data.chunks(4) {
            let mut b = [0u8; 4];
            b[..w.len()].copy_from_slice(w);
            let _ = write!(out, " {:#x}", u32::from_ne_bytes(b));
        }
        out.push(']');
    }
    out
}

/// Invalidation entries (`struct iommu_viommu_invalidate_selftest`) as
/// bytes, each padded with zeros to `entry_len` when that is larger.
pub fn inv_bytes(entries: &[(u32, u32, u32)], entry_len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for &(flags, vdev_id, cache_id) in entries {
        let mut e = Vec::with_capacity(entry_len.max(12));
        e.extend_from_slice(&flags.to_ne_bytes());
        e.extend_from_slice(&vdev_id.to_ne_bytes());
        e.extend_from_slice(&cache_id.to_ne_bytes());
        e.resize(entry_len, 0);
        out.extend_from_slice(&e);
    }
    out
}

/// Renders an invalidation's answer with the handled count in both
/// outcomes.
pub fn inv_outcome((rc, n): (Res<()>, u32)) -> Outcome {
    match rc {
        Ok(()) => Ok(format!("num={n}")),
        Err(e) => Err(Fail::CheckNum(e, n)),
    }
}

/// An invalidation on `id` and its handled count.
fn check_inv(b: &mut Ctx, id: u32, data_type: u32, entry_len: u32, bytes: &[u8]) -> Outcome {
    inv_outcome(b.invalidate(id, data_type, entry_len, bytes))
}

/// The common invalidation: selftest type, natural entry length.
fn inv(b: &mut Ctx, viommu: u32, entries: &[(u32, u32, u32)]) -> Outcome {
    let bytes = inv_bytes(entries, INV_ENTRY_LEN as usize);
    check_inv(b, viommu, VIOMMU_INVALIDATE_SELFTEST, INV_ENTRY_LEN, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vevents_render() {
        let ev = [
            VEvent {
                flags: 0,
                sequence: 0,
                data: 0x99u32.to_ne_bytes().to_vec(),
            },
            VEvent {
                flags: 1,
                sequence: 1,
                data: Vec::new(),
            },
            VEvent {
                flags: 0,
                sequence: 2,
                data: 0x88u32.to_ne_bytes().to_vec(),
            },
        ];
        assert_eq!(
            show_vevents(&ev),
            "n=3 [seq=0 flags=0x0 0x99] [lost seq=1] [seq=2 flags=0x0 0x88]"
        );
    }

    #[test]
    fn invalidation_entries_are_padded() {
        let b = inv_bytes(&[(1, 0x99, 2), (0, 3, 4)], 13);
        assert_eq!(b.len(), 26);
        assert_eq!(&b[0..12], &[1, 0, 0, 0, 0x99, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(b[12], 0);
        assert_eq!(&b[13..17], &[0, 0, 0, 0]);
    }

    #[test]
    fn outcomes_render_and_match() {
        let e: Outcome = Err(Fail::Check(Errno(libc::EBUSY)));
        assert_eq!(show(&e), "EBUSY");
        assert!(Expect::Err(libc::EBUSY).matches(&e));
        assert!(!Expect::Ok.matches(&e));
        let n: Outcome = Err(Fail::CheckNum(Errno(libc::EINVAL), 1));
        assert_eq!(show(&n), "EINVAL(num=1)");
        let s: Outcome = Err(Fail::Setup("mmap", Errno(libc::ENXIO)));
        assert_eq!(show(&s), "setup-failed(mmap:ENXIO)");
        // A setup failure never counts as the expected errno.
        assert!(!Expect::Err(libc::ENXIO).matches(&s));
        assert_eq!(show(&Ok(String::new())), "ok");
        // Names from vdev's table, the number for one it lacks.
        assert_eq!(Errno(libc::E2BIG).to_string(), "E2BIG");
        assert_eq!(Errno(libc::EBADF).to_string(), "EBADF");
        assert_eq!(Errno(4095).to_string(), "errno4095");
    }
}
