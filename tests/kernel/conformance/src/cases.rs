//! The conformance cases: the whole vIOMMU lifecycle and every error the
//! selftest mock enforces, each written once against [`Iommu`] and run on
//! a fresh context per backend. Expected answers are the kernel's (facts
//! from Linux's iommufd core, its selftest mock and the selftests'
//! `iommufd.c`); the differential check compares the backends with each
//! other, the expectation guards against both being wrong the same way.

use crate::ops::{Errno, Iommu, MockDevice, Res, VEvent};
use std::fmt::Write;

/// Page size of the booted x86-64 kernel (the mock maps in CPU pages).
pub const PAGE: u64 = 4096;
/// First IOVA of the mock domain's aperture.
pub const MOCK_APERTURE_START: u64 = 1 << 24;
/// `IOMMU_HW_INFO_TYPE_SELFTEST`.
pub const HW_INFO_TYPE_SELFTEST: u32 = 0xfeed_beef;
/// `IOMMU_VIOMMU_TYPE_SELFTEST`.
pub const VIOMMU_TYPE_SELFTEST: u32 = 0xdead_beef;
/// `IOMMU_HW_QUEUE_TYPE_SELFTEST`.
pub const HW_QUEUE_TYPE_SELFTEST: u32 = 0xdead_beef;
/// `IOMMU_HW_QUEUE_TYPE_DEFAULT`.
pub const HW_QUEUE_TYPE_DEFAULT: u32 = 0;
/// `IOMMU_TEST_HW_QUEUE_MAX`: the mock's number of queues per vIOMMU.
pub const HW_QUEUE_MAX: u32 = 2;
/// `IOMMU_VEVENTQ_TYPE_SELFTEST`.
pub const VEVENTQ_TYPE_SELFTEST: u32 = 0xbeef_beef;
/// The core's upper bound on `veventq_depth`.
pub const VEVENTQ_MAX_DEPTH: u32 = 1 << 19;
/// `IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST`.
pub const VIOMMU_INVALIDATE_SELFTEST: u32 = 0xdead_beef;
/// `IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID`.
pub const VIOMMU_INVALIDATE_SELFTEST_INVALID: u32 = 0x0dad_beef;
/// `IOMMU_TEST_INVALIDATE_FLAG_ALL`.
pub const INVALIDATE_FLAG_ALL: u32 = 1;
/// `MOCK_DEV_CACHE_ID_MAX`.
pub const MOCK_DEV_CACHE_ID_MAX: u32 = 3;
/// `IOMMU_HWPT_DATA_SELFTEST`.
pub const HWPT_DATA_SELFTEST: u32 = 0xdead;
/// `IOMMU_TEST_IOTLB_DEFAULT` (initial IOTLB tag of a nested domain).
pub const IOTLB_DEFAULT: u32 = 0x0bad_beef;
/// Size of one `struct iommu_viommu_invalidate_selftest`.
pub const INV_ENTRY_LEN: u32 = 12;

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

/// One conformance case.
pub struct Case {
    /// Name printed on the console.
    pub name: &'static str,
    /// The kernel's answer per the selftest mock.
    pub expect: Expect,
    /// The case body, run on a fresh context.
    pub run: fn(&mut dyn Iommu) -> Outcome,
}

/// `struct iommu_hwpt_selftest { iotlb, pagetable_type = 0 }`.
pub fn hwpt_data(iotlb: u32) -> Vec<u8> {
    let mut d = iotlb.to_ne_bytes().to_vec();
    d.extend_from_slice(&0u32.to_ne_bytes());
    d
}

/// Maps a preparatory step's error.
fn setup<T>(step: &'static str, r: Res<T>) -> Result<T, Fail> {
    r.map_err(|e| Fail::Setup(step, e))
}

/// Maps the request under test's error.
fn check<T>(r: Res<T>) -> Result<T, Fail> {
    r.map_err(Fail::Check)
}

/// Objects of the selftests' vIOMMU fixture.
struct Fx {
    ioas: u32,
    dev: MockDevice,
    parent: u32,
    viommu: u32,
}

/// IOAS, mock device, nesting-parent HWPT: what a vIOMMU needs.
fn parent_fixture(b: &mut dyn Iommu) -> Result<(u32, MockDevice, u32), Fail> {
    let ioas = setup("ioas_alloc", b.ioas_alloc())?;
    let dev = setup("mock_domain", b.mock_domain(ioas))?;
    let parent = setup(
        "hwpt_alloc_parent",
        b.hwpt_alloc_nest_parent(dev.idev, ioas),
    )?;
    Ok((ioas, dev, parent))
}

/// The parent fixture plus a selftest vIOMMU without driver data.
fn viommu_fixture(b: &mut dyn Iommu) -> Result<Fx, Fail> {
    let (ioas, dev, parent) = parent_fixture(b)?;
    let (viommu, _) = setup(
        "viommu_alloc",
        b.viommu_alloc(dev.idev, parent, VIOMMU_TYPE_SELFTEST, None),
    )?;
    Ok(Fx {
        ioas,
        dev,
        parent,
        viommu,
    })
}

/// The vIOMMU fixture with the first two pages of the aperture mapped.
fn mapped_fixture(b: &mut dyn Iommu) -> Result<Fx, Fail> {
    let fx = viommu_fixture(b)?;
    setup(
        "ioas_map",
        b.ioas_map_fixed(fx.ioas, MOCK_APERTURE_START, PAGE),
    )?;
    setup(
        "ioas_map2",
        b.ioas_map_fixed(fx.ioas, MOCK_APERTURE_START + PAGE, PAGE),
    )?;
    Ok(fx)
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

/// Runs an invalidation on a vIOMMU and renders the handled count in both
/// outcomes.
fn check_inv(
    b: &mut dyn Iommu,
    viommu: u32,
    data_type: u32,
    entry_len: u32,
    bytes: &[u8],
) -> Outcome {
    match b.invalidate(viommu, data_type, entry_len, bytes) {
        (Ok(()), n) => Ok(format!("num={n}")),
        (Err(e), n) => Err(Fail::CheckNum(e, n)),
    }
}

/// The common invalidation: selftest type, natural entry length.
fn inv(b: &mut dyn Iommu, viommu: u32, entries: &[(u32, u32, u32)]) -> Outcome {
    let bytes = inv_bytes(entries, INV_ENTRY_LEN as usize);
    check_inv(b, viommu, VIOMMU_INVALIDATE_SELFTEST, INV_ENTRY_LEN, &bytes)
}

/// A vIOMMU with a vDEVICE 0x99 for invalidation cases.
fn inv_fixture(b: &mut dyn Iommu) -> Result<Fx, Fail> {
    let fx = viommu_fixture(b)?;
    setup(
        "vdevice_alloc",
        b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99),
    )?;
    Ok(fx)
}

// ---------------------------------------------------------------- lifecycle

/// Labels the failing step of a multi-step case.
fn step<T>(name: &'static str, r: Res<T>) -> Result<T, Fail> {
    r.map_err(|e| Fail::Step(name, e))
}

/// The full lifecycle in the order a VMM runs it, every returned value
/// recorded, teardown in the order the kernel requires.
fn lifecycle(b: &mut dyn Iommu) -> Outcome {
    let mut r = String::new();
    let ioas = step("ioas_alloc", b.ioas_alloc())?;
    let dev = step("mock_domain", b.mock_domain(ioas))?;
    let _ = write!(
        r,
        "ioas={ioas} stdev={} hwpt={} idev={}",
        dev.stdev, dev.hwpt, dev.idev
    );
    let (info_type, test_reg) = step("get_hw_info", b.get_hw_info(dev.idev, None))?;
    let _ = write!(r, " hw_info={info_type:#x}/{test_reg:#x}");
    let parent = step(
        "hwpt_alloc_parent",
        b.hwpt_alloc_nest_parent(dev.idev, ioas),
    )?;
    let (viommu, out) = step(
        "viommu_alloc",
        b.viommu_alloc(dev.idev, parent, VIOMMU_TYPE_SELFTEST, Some(0xbeef)),
    )?;
    let out = out.ok_or(Fail::Unsupported("viommu driver data"))?;
    let _ = write!(
        r,
        " parent={parent} viommu={viommu} out_data={:x?} mmap_len={:#x}",
        out.out_data, out.mmap_length
    );
    let map = step("mmap", b.mmap(out.mmap_offset, out.mmap_length))?;
    let word = step("mmap_read", b.mmap_read_u32(map, 0))?;
    let _ = write!(r, " page[0]={word:#x}");
    let veventq = step(
        "veventq_alloc",
        b.veventq_alloc(viommu, VEVENTQ_TYPE_SELFTEST, 2),
    )?;
    let vdev = step("vdevice_alloc", b.vdevice_alloc(viommu, dev.idev, 0x99))?;
    let nested = step(
        "hwpt_alloc_nested",
        b.hwpt_alloc_nested(
            dev.idev,
            viommu,
            HWPT_DATA_SELFTEST,
            &hwpt_data(IOTLB_DEFAULT),
        ),
    )?;
    let _ = write!(r, " veventq={veventq} vdev={vdev} nested={nested}");
    step(
        "ioas_map",
        b.ioas_map_fixed(ioas, MOCK_APERTURE_START, 2 * PAGE),
    )?;
    let q0 = step(
        "hw_queue_0",
        b.hw_queue_alloc(viommu, HW_QUEUE_TYPE_SELFTEST, 0, MOCK_APERTURE_START, PAGE),
    )?;
    let q1 = step(
        "hw_queue_1",
        b.hw_queue_alloc(
            viommu,
            HW_QUEUE_TYPE_SELFTEST,
            1,
            MOCK_APERTURE_START + PAGE,
            PAGE,
        ),
    )?;
    let _ = write!(r, " q0={q0} q1={q1}");
    step("attach_nested", b.mock_domain_replace(dev.stdev, nested))?;
    step("trigger_vevent", b.trigger_vevent(dev.idev))?;
    let ev = step("veventq_read", b.veventq_read(veventq))?;
    let _ = write!(r, " vevents=<{}>", show_vevents(&ev));
    let bytes = inv_bytes(&[(0, 0x99, 0)], INV_ENTRY_LEN as usize);
    let (rc, num) = b.invalidate(viommu, VIOMMU_INVALIDATE_SELFTEST, INV_ENTRY_LEN, &bytes);
    step("invalidate", rc)?;
    let _ = write!(r, " inv_num={num}");
    // Teardown: detach from the nested domain, queues descending, then what
    // pins the vIOMMU, the mapping before the vIOMMU, the vIOMMU before its
    // parent.
    step("attach_ioas", b.mock_domain_replace(dev.stdev, ioas))?;
    step("destroy_nested", b.destroy(nested))?;
    step("destroy_q1", b.destroy(q1))?;
    step("destroy_q0", b.destroy(q0))?;
    step(
        "ioas_unmap",
        b.ioas_unmap(ioas, MOCK_APERTURE_START, 2 * PAGE),
    )?;
    step("destroy_veventq", b.destroy(veventq))?;
    step("destroy_vdevice", b.destroy(vdev))?;
    step("munmap", b.munmap(map))?;
    step("destroy_viommu", b.destroy(viommu))?;
    step("destroy_parent", b.destroy(parent))?;
    step("destroy_stdev", b.destroy(dev.stdev))?;
    step("destroy_ioas", b.destroy(ioas))?;
    Ok(r)
}

// ---------------------------------------------------------------- vIOMMU

fn viommu_alloc_plain(b: &mut dyn Iommu) -> Outcome {
    let (_, dev, parent) = parent_fixture(b)?;
    let (id, out) = check(b.viommu_alloc(dev.idev, parent, VIOMMU_TYPE_SELFTEST, None))?;
    Ok(format!("viommu={id} data={}", out.is_some()))
}

fn viommu_alloc_hwpt_zero(b: &mut dyn Iommu) -> Outcome {
    let (_, dev, _) = parent_fixture(b)?;
    check(b.viommu_alloc(dev.idev, 0, VIOMMU_TYPE_SELFTEST, None)).map(|_| String::new())
}

fn viommu_alloc_not_nest_parent(b: &mut dyn Iommu) -> Outcome {
    let (_, dev, _) = parent_fixture(b)?;
    // The mock device's automatic domain is a paging HWPT, not a parent.
    check(b.viommu_alloc(dev.idev, dev.hwpt, VIOMMU_TYPE_SELFTEST, None)).map(|_| String::new())
}

fn viommu_alloc_bad_type(b: &mut dyn Iommu) -> Outcome {
    let (_, dev, parent) = parent_fixture(b)?;
    check(b.viommu_alloc(dev.idev, parent, 0xdead, None)).map(|_| String::new())
}

fn viommu_alloc_bad_dev(b: &mut dyn Iommu) -> Outcome {
    let (_, _, parent) = parent_fixture(b)?;
    check(b.viommu_alloc(9999, parent, VIOMMU_TYPE_SELFTEST, None)).map(|_| String::new())
}

fn destroy_parent_under_viommu(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.destroy(fx.parent)).map(|_| String::new())
}

fn destroy_viommu_with_nested(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    setup(
        "hwpt_alloc_nested",
        b.hwpt_alloc_nested(
            fx.dev.idev,
            fx.viommu,
            HWPT_DATA_SELFTEST,
            &hwpt_data(IOTLB_DEFAULT),
        ),
    )?;
    check(b.destroy(fx.viommu)).map(|_| String::new())
}

fn destroy_viommu_with_vdevice(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    check(b.destroy(fx.viommu)).map(|_| String::new())
}

fn destroy_viommu_unused(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.destroy(fx.viommu))?;
    // The parent is free again once its vIOMMU is gone.
    check(b.destroy(fx.parent))?;
    Ok(String::new())
}

fn destroy_unknown_id(b: &mut dyn Iommu) -> Outcome {
    let _ = viommu_fixture(b)?;
    check(b.destroy(9999)).map(|_| String::new())
}

fn destroy_ioas_attached(b: &mut dyn Iommu) -> Outcome {
    let (ioas, _, _) = parent_fixture(b)?;
    check(b.destroy(ioas)).map(|_| String::new())
}

fn hw_info_default(b: &mut dyn Iommu) -> Outcome {
    let (_, dev, _) = parent_fixture(b)?;
    let (t, reg) = check(b.get_hw_info(dev.idev, None))?;
    Ok(format!("type={t:#x} test_reg={reg:#x}"))
}

fn hw_info_input_type(b: &mut dyn Iommu) -> Outcome {
    let (_, dev, _) = parent_fixture(b)?;
    let (t, reg) = check(b.get_hw_info(dev.idev, Some(HW_INFO_TYPE_SELFTEST)))?;
    Ok(format!("type={t:#x} test_reg={reg:#x}"))
}

fn hw_info_input_type_unknown(b: &mut dyn Iommu) -> Outcome {
    let (_, dev, _) = parent_fixture(b)?;
    check(b.get_hw_info(dev.idev, Some(0x1234))).map(|_| String::new())
}

fn hw_info_bad_dev(b: &mut dyn Iommu) -> Outcome {
    let (ioas, _, _) = parent_fixture(b)?;
    check(b.get_hw_info(ioas, None)).map(|_| String::new())
}

// ---------------------------------------------------------------- nested HWPT

fn nested_on_viommu(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let id = check(b.hwpt_alloc_nested(
        fx.dev.idev,
        fx.viommu,
        HWPT_DATA_SELFTEST,
        &hwpt_data(IOTLB_DEFAULT),
    ))?;
    Ok(format!("nested={id}"))
}

fn nested_on_parent(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let id = check(b.hwpt_alloc_nested(
        fx.dev.idev,
        fx.parent,
        HWPT_DATA_SELFTEST,
        &hwpt_data(IOTLB_DEFAULT),
    ))?;
    Ok(format!("nested={id}"))
}

fn nested_data_type_none(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.hwpt_alloc_nested(fx.dev.idev, fx.viommu, 0, &hwpt_data(IOTLB_DEFAULT)))
        .map(|_| String::new())
}

fn nested_data_type_unknown(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.hwpt_alloc_nested(
        fx.dev.idev,
        fx.viommu,
        HWPT_DATA_SELFTEST + 1,
        &hwpt_data(IOTLB_DEFAULT),
    ))
    .map(|_| String::new())
}

fn nested_data_short(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    // Shorter than the mandatory `iotlb` word.
    check(b.hwpt_alloc_nested(
        fx.dev.idev,
        fx.viommu,
        HWPT_DATA_SELFTEST,
        &hwpt_data(IOTLB_DEFAULT)[..3],
    ))
    .map(|_| String::new())
}

fn nested_on_nested(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let data = hwpt_data(IOTLB_DEFAULT);
    let n = setup(
        "hwpt_alloc_nested",
        b.hwpt_alloc_nested(fx.dev.idev, fx.viommu, HWPT_DATA_SELFTEST, &data),
    )?;
    check(b.hwpt_alloc_nested(fx.dev.idev, n, HWPT_DATA_SELFTEST, &data)).map(|_| String::new())
}

fn nested_on_paging_hwpt(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.hwpt_alloc_nested(
        fx.dev.idev,
        fx.dev.hwpt,
        HWPT_DATA_SELFTEST,
        &hwpt_data(IOTLB_DEFAULT),
    ))
    .map(|_| String::new())
}

fn nested_bad_dev(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.hwpt_alloc_nested(
        fx.ioas,
        fx.viommu,
        HWPT_DATA_SELFTEST,
        &hwpt_data(IOTLB_DEFAULT),
    ))
    .map(|_| String::new())
}

fn parent_on_bad_dev(b: &mut dyn Iommu) -> Outcome {
    let ioas = setup("ioas_alloc", b.ioas_alloc())?;
    setup("mock_domain", b.mock_domain(ioas))?;
    check(b.hwpt_alloc_nest_parent(ioas, ioas)).map(|_| String::new())
}

fn parent_on_dev_as_ioas(b: &mut dyn Iommu) -> Outcome {
    let ioas = setup("ioas_alloc", b.ioas_alloc())?;
    let dev = setup("mock_domain", b.mock_domain(ioas))?;
    check(b.hwpt_alloc_nest_parent(dev.idev, dev.idev)).map(|_| String::new())
}

// ---------------------------------------------------------------- mmap

/// vIOMMU with driver data; returns (fx, offset, length).
fn mmap_fixture(b: &mut dyn Iommu) -> Result<(Fx, u64, u64), Fail> {
    let (ioas, dev, parent) = parent_fixture(b)?;
    let (viommu, out) = setup(
        "viommu_alloc_data",
        b.viommu_alloc(dev.idev, parent, VIOMMU_TYPE_SELFTEST, Some(0xbeef)),
    )?;
    let out = out.ok_or(Fail::Unsupported("viommu driver data"))?;
    let fx = Fx {
        ioas,
        dev,
        parent,
        viommu,
    };
    Ok((fx, out.mmap_offset, out.mmap_length))
}

fn viommu_alloc_with_data(b: &mut dyn Iommu) -> Outcome {
    let (ioas, dev, parent) = parent_fixture(b)?;
    let _ = ioas;
    let (viommu, out) =
        check(b.viommu_alloc(dev.idev, parent, VIOMMU_TYPE_SELFTEST, Some(0x1234_5678)))?;
    let out = out.ok_or(Fail::Unsupported("viommu driver data"))?;
    Ok(format!(
        "viommu={viommu} out_data={:x?} mmap_offset={:#x} mmap_length={:#x}",
        out.out_data, out.mmap_offset, out.mmap_length
    ))
}

fn mmap_offset_plus_page(b: &mut dyn Iommu) -> Outcome {
    let (_, off, len) = mmap_fixture(b)?;
    check(b.mmap(off + PAGE, len)).map(|_| String::new())
}

fn mmap_offset_plus_two_pages(b: &mut dyn Iommu) -> Outcome {
    let (_, off, len) = mmap_fixture(b)?;
    check(b.mmap(off + 2 * PAGE, len)).map(|_| String::new())
}

fn mmap_half_length(b: &mut dyn Iommu) -> Outcome {
    let (_, off, len) = mmap_fixture(b)?;
    check(b.mmap(off, len / 2)).map(|_| String::new())
}

fn mmap_double_length(b: &mut dyn Iommu) -> Outcome {
    let (_, off, len) = mmap_fixture(b)?;
    check(b.mmap(off, len * 2)).map(|_| String::new())
}

fn mmap_exact_reads_in_data(b: &mut dyn Iommu) -> Outcome {
    let (_, off, len) = mmap_fixture(b)?;
    let h = check(b.mmap(off, len))?;
    let w0 = check(b.mmap_read_u32(h, 0))?;
    let w1 = check(b.mmap_read_u32(h, 4))?;
    Ok(format!("page[0]={w0:#x} page[1]={w1:#x}"))
}

fn destroy_mapped_viommu(b: &mut dyn Iommu) -> Outcome {
    let (fx, off, len) = mmap_fixture(b)?;
    setup("mmap", b.mmap(off, len))?;
    check(b.destroy(fx.viommu)).map(|_| String::new())
}

fn destroy_viommu_after_munmap(b: &mut dyn Iommu) -> Outcome {
    let (fx, off, len) = mmap_fixture(b)?;
    let h = setup("mmap", b.mmap(off, len))?;
    setup("munmap", b.munmap(h))?;
    check(b.destroy(fx.viommu)).map(|_| String::new())
}

fn mmap_after_viommu_destroyed(b: &mut dyn Iommu) -> Outcome {
    let (fx, off, len) = mmap_fixture(b)?;
    setup("destroy_viommu", b.destroy(fx.viommu))?;
    check(b.mmap(off, len)).map(|_| String::new())
}

// ---------------------------------------------------------------- HW queues

fn hw_queue_type_default(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    check(b.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_DEFAULT,
        0,
        MOCK_APERTURE_START,
        PAGE,
    ))
    .map(|_| String::new())
}

fn hw_queue_zero_length(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    check(b.hw_queue_alloc(fx.viommu, HW_QUEUE_TYPE_SELFTEST, 0, MOCK_APERTURE_START, 0))
        .map(|_| String::new())
}

fn hw_queue_overflow(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    check(b.hw_queue_alloc(fx.viommu, HW_QUEUE_TYPE_SELFTEST, 0, u64::MAX, PAGE))
        .map(|_| String::new())
}

fn hw_queue_unmapped_iova(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_SELFTEST,
        0,
        MOCK_APERTURE_START,
        PAGE,
    ))
    .map(|_| String::new())
}

fn hw_queue_partly_unmapped(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    // Two pages mapped; a three-page queue runs off the end.
    check(b.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_SELFTEST,
        0,
        MOCK_APERTURE_START,
        3 * PAGE,
    ))
    .map(|_| String::new())
}

fn hw_queue_out_of_order(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    check(b.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_SELFTEST,
        1,
        MOCK_APERTURE_START,
        PAGE,
    ))
    .map(|_| String::new())
}

fn hw_queue_index_out_of_range(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    check(b.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_SELFTEST,
        HW_QUEUE_MAX,
        MOCK_APERTURE_START,
        PAGE,
    ))
    .map(|_| String::new())
}

fn hw_queue_index_huge(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    check(b.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_SELFTEST,
        u32::MAX,
        MOCK_APERTURE_START,
        PAGE,
    ))
    .map(|_| String::new())
}

fn hw_queue_bad_viommu(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    // The IOAS is not a vIOMMU.
    check(b.hw_queue_alloc(
        fx.ioas,
        HW_QUEUE_TYPE_SELFTEST,
        0,
        MOCK_APERTURE_START,
        PAGE,
    ))
    .map(|_| String::new())
}

fn hw_queue_first(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    let q = check(b.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_SELFTEST,
        0,
        MOCK_APERTURE_START,
        PAGE,
    ))?;
    Ok(format!("queue={q}"))
}

fn hw_queue_duplicate(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    setup(
        "hw_queue_0",
        b.hw_queue_alloc(
            fx.viommu,
            HW_QUEUE_TYPE_SELFTEST,
            0,
            MOCK_APERTURE_START,
            PAGE,
        ),
    )?;
    check(b.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_SELFTEST,
        0,
        MOCK_APERTURE_START,
        PAGE,
    ))
    .map(|_| String::new())
}

fn unmap_pinned_iova(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    setup(
        "hw_queue_0",
        b.hw_queue_alloc(
            fx.viommu,
            HW_QUEUE_TYPE_SELFTEST,
            0,
            MOCK_APERTURE_START,
            PAGE,
        ),
    )?;
    check(b.ioas_unmap(fx.ioas, MOCK_APERTURE_START, PAGE)).map(|_| String::new())
}

fn unmap_unpinned_neighbour(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    setup(
        "hw_queue_0",
        b.hw_queue_alloc(
            fx.viommu,
            HW_QUEUE_TYPE_SELFTEST,
            0,
            MOCK_APERTURE_START,
            PAGE,
        ),
    )?;
    check(b.ioas_unmap(fx.ioas, MOCK_APERTURE_START + PAGE, PAGE)).map(|_| String::new())
}

fn hw_queue_second_unaligned(b: &mut dyn Iommu) -> Outcome {
    let fx = mapped_fixture(b)?;
    let q0 = setup(
        "hw_queue_0",
        b.hw_queue_alloc(
            fx.viommu,
            HW_QUEUE_TYPE_SELFTEST,
            0,
            MOCK_APERTURE_START,
            PAGE,
        ),
    )?;
    // The mock has no alignment rule (Tegra241 does).
    let q1 = check(b.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_SELFTEST,
        1,
        MOCK_APERTURE_START + PAGE / 2,
        PAGE / 2,
    ))?;
    Ok(format!("q0={q0} q1={q1}"))
}

/// Two queues allocated; returns (fx, q0, q1).
fn two_queues(b: &mut dyn Iommu) -> Result<(Fx, u32, u32), Fail> {
    let fx = mapped_fixture(b)?;
    let q0 = setup(
        "hw_queue_0",
        b.hw_queue_alloc(
            fx.viommu,
            HW_QUEUE_TYPE_SELFTEST,
            0,
            MOCK_APERTURE_START,
            PAGE,
        ),
    )?;
    let q1 = setup(
        "hw_queue_1",
        b.hw_queue_alloc(
            fx.viommu,
            HW_QUEUE_TYPE_SELFTEST,
            1,
            MOCK_APERTURE_START + PAGE,
            PAGE,
        ),
    )?;
    Ok((fx, q0, q1))
}

fn hw_queue_third(b: &mut dyn Iommu) -> Outcome {
    let (fx, _, _) = two_queues(b)?;
    check(b.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_SELFTEST,
        2,
        MOCK_APERTURE_START,
        PAGE,
    ))
    .map(|_| String::new())
}

fn destroy_queues_ascending(b: &mut dyn Iommu) -> Outcome {
    let (_, q0, _) = two_queues(b)?;
    check(b.destroy(q0)).map(|_| String::new())
}

fn destroy_queues_descending(b: &mut dyn Iommu) -> Outcome {
    let (fx, q0, q1) = two_queues(b)?;
    check(b.destroy(q1))?;
    check(b.destroy(q0))?;
    // Once no queue pins it, the IOVA can be unmapped.
    check(b.ioas_unmap(fx.ioas, MOCK_APERTURE_START, PAGE))?;
    Ok(String::new())
}

fn destroy_viommu_with_queue(b: &mut dyn Iommu) -> Outcome {
    let (fx, _, _) = two_queues(b)?;
    check(b.destroy(fx.viommu)).map(|_| String::new())
}

// ---------------------------------------------------------------- vDEVICE

fn vdevice_alloc_ok(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let v = check(b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99))?;
    Ok(format!("vdev={v}"))
}

fn vdevice_duplicate(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    check(b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99)).map(|_| String::new())
}

fn vdevice_second_virt_id(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    // One vDEVICE per device, whatever the virtual id.
    check(b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x88)).map(|_| String::new())
}

fn vdevice_bad_viommu(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.vdevice_alloc(9999, fx.dev.idev, 0x99)).map(|_| String::new())
}

fn vdevice_bad_dev(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.vdevice_alloc(fx.viommu, 9999, 0x99)).map(|_| String::new())
}

fn vdevice_realloc_after_destroy(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let v = setup(
        "vdevice_alloc",
        b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99),
    )?;
    setup("destroy_vdevice", b.destroy(v))?;
    let v2 = check(b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x88))?;
    Ok(format!("vdev={v2}"))
}

fn vdevice_tombstone(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let v = setup(
        "vdevice_alloc",
        b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99),
    )?;
    // Unplugging the device destroys its vDEVICE with it.
    setup("destroy_stdev", b.destroy(fx.dev.stdev))?;
    check(b.destroy(v)).map(|_| String::new())
}

fn vdevice_second_device(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    let dev2 = setup("mock_domain_2", b.mock_domain(fx.ioas))?;
    let v = check(b.vdevice_alloc(fx.viommu, dev2.idev, 0x88))?;
    Ok(format!(
        "stdev2={} hwpt2={} idev2={} vdev2={v}",
        dev2.stdev, dev2.hwpt, dev2.idev
    ))
}

fn vdevice_virt_id_collision(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    let dev2 = setup("mock_domain_2", b.mock_domain(fx.ioas))?;
    // Another device under a virtual id already taken on this vIOMMU.
    check(b.vdevice_alloc(fx.viommu, dev2.idev, 0x99)).map(|_| String::new())
}

// ---------------------------------------------------------------- vEVENTQ

fn veventq_realloc_after_destroy(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let q = setup(
        "veventq_alloc",
        b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, 2),
    )?;
    check(b.destroy(q))?;
    let q2 = check(b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, 2))?;
    Ok(format!("veventq2={q2}"))
}

fn trigger_after_veventq_destroyed(b: &mut dyn Iommu) -> Outcome {
    let (fx, q) = vevent_fixture(b, 2)?;
    check(b.destroy(q))?;
    check(b.trigger_vevent(fx.dev.idev)).map(|_| String::new())
}

fn veventq_depth_zero(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, 0)).map(|_| String::new())
}

fn veventq_depth_over_max(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, VEVENTQ_MAX_DEPTH + 1))
        .map(|_| String::new())
}

fn veventq_depth_max(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let id = check(b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, VEVENTQ_MAX_DEPTH))?;
    Ok(format!("veventq={id}"))
}

fn veventq_type_default(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.veventq_alloc(fx.viommu, 0, 2)).map(|_| String::new())
}

fn veventq_duplicate_type(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    setup(
        "veventq_alloc",
        b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, 2),
    )?;
    check(b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, 2)).map(|_| String::new())
}

fn veventq_bad_viommu(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    check(b.veventq_alloc(fx.ioas, VEVENTQ_TYPE_SELFTEST, 2)).map(|_| String::new())
}

/// Allocates a nested domain on the vIOMMU and attaches the mock device
/// to it: the mock reports vEVENTs only for such a device.
fn attach_nested(b: &mut dyn Iommu, fx: &Fx) -> Result<u32, Fail> {
    let nested = setup(
        "hwpt_alloc_nested",
        b.hwpt_alloc_nested(
            fx.dev.idev,
            fx.viommu,
            HWPT_DATA_SELFTEST,
            &hwpt_data(IOTLB_DEFAULT),
        ),
    )?;
    setup("attach_nested", b.mock_domain_replace(fx.dev.stdev, nested))?;
    Ok(nested)
}

/// vIOMMU, vEVENTQ of depth `depth`, vDEVICE 0x99, device attached to a
/// nested domain: what delivering the mock's vEVENTs needs.
fn vevent_fixture(b: &mut dyn Iommu, depth: u32) -> Result<(Fx, u32), Fail> {
    let fx = viommu_fixture(b)?;
    let q = setup(
        "veventq_alloc",
        b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, depth),
    )?;
    setup(
        "vdevice_alloc",
        b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99),
    )?;
    attach_nested(b, &fx)?;
    Ok((fx, q))
}

fn veventq_read_empty(b: &mut dyn Iommu) -> Outcome {
    let (_, q) = vevent_fixture(b, 2)?;
    check(b.veventq_read(q)).map(|v| show_vevents(&v))
}

fn veventq_trigger_and_read(b: &mut dyn Iommu) -> Outcome {
    let (fx, q) = vevent_fixture(b, 2)?;
    check(b.trigger_vevent(fx.dev.idev))?;
    check(b.veventq_read(q)).map(|v| show_vevents(&v))
}

fn veventq_overflow(b: &mut dyn Iommu) -> Outcome {
    let (fx, q) = vevent_fixture(b, 2)?;
    for _ in 0..3 {
        check(b.trigger_vevent(fx.dev.idev))?;
    }
    let first = check(b.veventq_read(q))?;
    // After the overflow is read, delivery continues normally.
    check(b.trigger_vevent(fx.dev.idev))?;
    let second = check(b.veventq_read(q))?;
    Ok(format!(
        "first=<{}> second=<{}>",
        show_vevents(&first),
        show_vevents(&second)
    ))
}

fn veventq_sequence_across_vdevices(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let q = setup(
        "veventq_alloc",
        b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, 4),
    )?;
    let v1 = setup(
        "vdevice_alloc",
        b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99),
    )?;
    let nested = attach_nested(b, &fx)?;
    check(b.trigger_vevent(fx.dev.idev))?;
    let first = check(b.veventq_read(q))?;
    // Re-bind the device under another virtual id (detached meanwhile, as
    // the kernel requires): the events carry the new id and the sequence
    // keeps counting.
    check(b.mock_domain_replace(fx.dev.stdev, fx.ioas))?;
    check(b.destroy(v1))?;
    let v2 = check(b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x88))?;
    check(b.mock_domain_replace(fx.dev.stdev, nested))?;
    check(b.trigger_vevent(fx.dev.idev))?;
    let second = check(b.veventq_read(q))?;
    Ok(format!(
        "vdev2={v2} first=<{}> second=<{}>",
        show_vevents(&first),
        show_vevents(&second)
    ))
}

fn trigger_vevent_detached(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    setup(
        "veventq_alloc",
        b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, 2),
    )?;
    // vDEVICE present, but the device is not attached to a nested domain.
    check(b.trigger_vevent(fx.dev.idev)).map(|_| String::new())
}

fn replace_nested_without_vdevice(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let nested = setup(
        "hwpt_alloc_nested",
        b.hwpt_alloc_nested(
            fx.dev.idev,
            fx.viommu,
            HWPT_DATA_SELFTEST,
            &hwpt_data(IOTLB_DEFAULT),
        ),
    )?;
    check(b.mock_domain_replace(fx.dev.stdev, nested)).map(|_| String::new())
}

fn destroy_attached_nested(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    let nested = attach_nested(b, &fx)?;
    check(b.destroy(nested)).map(|_| String::new())
}

fn destroy_vdevice_attached(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    let v = setup(
        "vdevice_alloc",
        b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99),
    )?;
    attach_nested(b, &fx)?;
    check(b.destroy(v)).map(|_| String::new())
}

fn trigger_vevent_no_vdevice(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    setup(
        "veventq_alloc",
        b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, 2),
    )?;
    check(b.trigger_vevent(fx.dev.idev)).map(|_| String::new())
}

fn trigger_vevent_no_veventq(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    attach_nested(b, &fx)?;
    check(b.trigger_vevent(fx.dev.idev)).map(|_| String::new())
}

fn destroy_viommu_with_veventq(b: &mut dyn Iommu) -> Outcome {
    let fx = viommu_fixture(b)?;
    setup(
        "veventq_alloc",
        b.veventq_alloc(fx.viommu, VEVENTQ_TYPE_SELFTEST, 2),
    )?;
    check(b.destroy(fx.viommu)).map(|_| String::new())
}

// ---------------------------------------------------------------- invalidation

fn inv_zero_entries(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    inv(b, fx.viommu, &[])
}

fn inv_bad_data_type(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    let bytes = inv_bytes(&[(0, 0x99, 0)], INV_ENTRY_LEN as usize);
    check_inv(
        b,
        fx.viommu,
        VIOMMU_INVALIDATE_SELFTEST_INVALID,
        INV_ENTRY_LEN,
        &bytes,
    )
}

fn inv_entry_len_plus_one(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    // A longer entry whose tail is zero is accepted (extensible struct).
    let bytes = inv_bytes(&[(0, 0x99, 0)], INV_ENTRY_LEN as usize + 1);
    check_inv(
        b,
        fx.viommu,
        VIOMMU_INVALIDATE_SELFTEST,
        INV_ENTRY_LEN + 1,
        &bytes,
    )
}

fn inv_entry_len_one(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    check_inv(b, fx.viommu, VIOMMU_INVALIDATE_SELFTEST, 1, &[0])
}

fn inv_bad_flags(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    inv(b, fx.viommu, &[(0xffff_ffff, 0x99, 0)])
}

fn inv_bad_cache_id(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    inv(b, fx.viommu, &[(0, 0x99, MOCK_DEV_CACHE_ID_MAX + 1)])
}

fn inv_unknown_vdev_id(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    inv(b, fx.viommu, &[(0, 0x9, 0)])
}

fn inv_second_entry_bad_flags(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    inv(b, fx.viommu, &[(0, 0x99, 0), (0xffff_ffff, 0x99, 1)])
}

fn inv_second_entry_bad_cache_id(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    inv(
        b,
        fx.viommu,
        &[(0, 0x99, 0), (0, 0x99, MOCK_DEV_CACHE_ID_MAX + 1)],
    )
}

fn inv_two_entries(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    inv(b, fx.viommu, &[(0, 0x99, 2), (0, 0x99, 3)])
}

fn inv_flag_all(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    inv(b, fx.viommu, &[(INVALIDATE_FLAG_ALL, 0x99, 0)])
}

fn inv_flag_all_bad_cache_id(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    // The cache id is checked even when the flag says "all".
    inv(
        b,
        fx.viommu,
        &[(INVALIDATE_FLAG_ALL, 0x99, MOCK_DEV_CACHE_ID_MAX + 1)],
    )
}

fn inv_on_ioas(b: &mut dyn Iommu) -> Outcome {
    let fx = inv_fixture(b)?;
    let bytes = inv_bytes(&[(0, 0x99, 0)], INV_ENTRY_LEN as usize);
    check_inv(
        b,
        fx.ioas,
        VIOMMU_INVALIDATE_SELFTEST,
        INV_ENTRY_LEN,
        &bytes,
    )
}

// ---------------------------------------------------------------- IOAS

fn ioas_map_unmap(b: &mut dyn Iommu) -> Outcome {
    let ioas = setup("ioas_alloc", b.ioas_alloc())?;
    check(b.ioas_map_fixed(ioas, MOCK_APERTURE_START, 4 * PAGE))?;
    check(b.ioas_unmap(ioas, MOCK_APERTURE_START, 4 * PAGE))?;
    Ok(String::new())
}

fn ioas_unmap_unmapped(b: &mut dyn Iommu) -> Outcome {
    let ioas = setup("ioas_alloc", b.ioas_alloc())?;
    check(b.ioas_unmap(ioas, MOCK_APERTURE_START, PAGE)).map(|_| String::new())
}

fn ioas_map_overlap(b: &mut dyn Iommu) -> Outcome {
    let ioas = setup("ioas_alloc", b.ioas_alloc())?;
    setup(
        "ioas_map",
        b.ioas_map_fixed(ioas, MOCK_APERTURE_START, 2 * PAGE),
    )?;
    check(b.ioas_map_fixed(ioas, MOCK_APERTURE_START + PAGE, 2 * PAGE)).map(|_| String::new())
}

/// Every case, in the order they run.
pub fn all() -> Vec<Case> {
    use libc::*;
    macro_rules! case {
        ($f:ident, ok) => {
            Case {
                name: stringify!($f),
                expect: Expect::Ok,
                run: $f,
            }
        };
        ($f:ident, $e:expr) => {
            Case {
                name: stringify!($f),
                expect: Expect::Err($e),
                run: $f,
            }
        };
    }
    vec![
        case!(lifecycle, ok),
        case!(hw_info_default, ok),
        case!(hw_info_input_type, ok),
        case!(hw_info_input_type_unknown, EOPNOTSUPP),
        case!(hw_info_bad_dev, ENOENT),
        case!(viommu_alloc_plain, ok),
        case!(viommu_alloc_hwpt_zero, ENOENT),
        case!(viommu_alloc_not_nest_parent, EINVAL),
        case!(viommu_alloc_bad_type, EOPNOTSUPP),
        case!(viommu_alloc_bad_dev, ENOENT),
        case!(destroy_parent_under_viommu, EBUSY),
        case!(destroy_viommu_with_nested, EBUSY),
        case!(destroy_viommu_with_vdevice, EBUSY),
        case!(destroy_viommu_with_veventq, EBUSY),
        case!(destroy_viommu_with_queue, EBUSY),
        case!(destroy_viommu_unused, ok),
        case!(destroy_unknown_id, ENOENT),
        case!(destroy_ioas_attached, EBUSY),
        case!(nested_on_viommu, ok),
        case!(nested_on_parent, ok),
        case!(nested_data_type_none, EINVAL),
        case!(nested_data_type_unknown, EOPNOTSUPP),
        case!(nested_data_short, EINVAL),
        case!(nested_on_nested, EINVAL),
        case!(nested_on_paging_hwpt, EINVAL),
        case!(nested_bad_dev, ENOENT),
        case!(parent_on_bad_dev, ENOENT),
        case!(parent_on_dev_as_ioas, EINVAL),
        case!(viommu_alloc_with_data, ok),
        case!(mmap_offset_plus_page, ENXIO),
        case!(mmap_offset_plus_two_pages, ENXIO),
        case!(mmap_half_length, ENXIO),
        case!(mmap_double_length, ENXIO),
        case!(mmap_exact_reads_in_data, ok),
        case!(destroy_mapped_viommu, EBUSY),
        case!(destroy_viommu_after_munmap, ok),
        case!(mmap_after_viommu_destroyed, ENXIO),
        case!(hw_queue_type_default, EOPNOTSUPP),
        case!(hw_queue_zero_length, EINVAL),
        case!(hw_queue_overflow, EOVERFLOW),
        case!(hw_queue_unmapped_iova, ENOENT),
        case!(hw_queue_partly_unmapped, ENOENT),
        case!(hw_queue_out_of_order, EIO),
        case!(hw_queue_index_out_of_range, EINVAL),
        case!(hw_queue_index_huge, EINVAL),
        case!(hw_queue_bad_viommu, ENOENT),
        case!(hw_queue_first, ok),
        case!(hw_queue_duplicate, EEXIST),
        case!(hw_queue_second_unaligned, ok),
        case!(hw_queue_third, EINVAL),
        case!(unmap_pinned_iova, EBUSY),
        case!(unmap_unpinned_neighbour, ok),
        case!(destroy_queues_ascending, EBUSY),
        case!(destroy_queues_descending, ok),
        case!(vdevice_alloc_ok, ok),
        case!(vdevice_duplicate, EEXIST),
        case!(vdevice_second_virt_id, EEXIST),
        case!(vdevice_bad_viommu, ENOENT),
        case!(vdevice_bad_dev, ENOENT),
        case!(vdevice_realloc_after_destroy, ok),
        case!(vdevice_tombstone, ENOENT),
        case!(vdevice_second_device, ok),
        case!(vdevice_virt_id_collision, EEXIST),
        case!(veventq_depth_zero, EINVAL),
        case!(veventq_depth_over_max, EINVAL),
        case!(veventq_depth_max, ok),
        case!(veventq_type_default, EOPNOTSUPP),
        case!(veventq_duplicate_type, EEXIST),
        case!(veventq_bad_viommu, ENOENT),
        case!(veventq_realloc_after_destroy, ok),
        case!(trigger_after_veventq_destroyed, EOPNOTSUPP),
        case!(veventq_read_empty, ok),
        case!(veventq_trigger_and_read, ok),
        case!(veventq_overflow, ok),
        case!(veventq_sequence_across_vdevices, ok),
        case!(trigger_vevent_no_vdevice, ENOENT),
        case!(trigger_vevent_detached, ENOENT),
        case!(replace_nested_without_vdevice, ENOENT),
        case!(destroy_attached_nested, EBUSY),
        case!(destroy_vdevice_attached, ok),
        case!(trigger_vevent_no_veventq, EOPNOTSUPP),
        case!(inv_zero_entries, ok),
        case!(inv_bad_data_type, EINVAL),
        case!(inv_entry_len_plus_one, ok),
        case!(inv_entry_len_one, EINVAL),
        case!(inv_bad_flags, EOPNOTSUPP),
        case!(inv_bad_cache_id, EINVAL),
        case!(inv_unknown_vdev_id, EINVAL),
        case!(inv_second_entry_bad_flags, EOPNOTSUPP),
        case!(inv_second_entry_bad_cache_id, EINVAL),
        case!(inv_two_entries, ok),
        case!(inv_flag_all, ok),
        case!(inv_flag_all_bad_cache_id, EINVAL),
        case!(inv_on_ioas, EINVAL),
        case!(ioas_map_unmap, ok),
        case!(ioas_unmap_unmapped, ENOENT),
        case!(ioas_map_overlap, EEXIST),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::parse_vevents;

    #[test]
    fn vevents_parse_and_render() {
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
        assert_eq!(ev.len(), 3);
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
    }

    #[test]
    fn case_names_are_unique() {
        let all = all();
        let mut names: Vec<_> = all.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
