//! Kernel facts the differential cases cannot express through
//! `vdev::backend::Backend` (it has no such knob), checked on the raw uAPI
//! only: read(2) counts on a vEVENTQ, HWPT allocation flags, malformed
//! invalidation arrays, and one defect of the kernel's selftest mock. They
//! document what the simulator must do if it ever grows the matching
//! operation.

use crate::cases::{
    check, hwpt_data, inv_bytes, inv_outcome, setup, show, Expect, Fail, Outcome,
    HWPT_DATA_SELFTEST, HW_QUEUE_TYPE_SELFTEST, INV_ENTRY_LEN, IOTLB_DEFAULT, MOCK_APERTURE_START,
    PAGE, VEVENTQ_TYPE_SELFTEST, VIOMMU_INVALIDATE_SELFTEST, VIOMMU_TYPE_SELFTEST,
};
use crate::ctx::Ctx;
use crate::raw::RawKernel;

/// Size of `struct iommufd_vevent_header` (from iommufd-bindings).
const VEVENT_HDR: usize = std::mem::size_of::<iommufd_bindings::iommufd::iommufd_vevent_header>();

/// A fresh iommufd on the raw uAPI.
type K = Ctx<RawKernel>;

/// One raw-kernel fact.
pub struct Fact {
    /// Name printed on the console.
    pub name: &'static str,
    /// The kernel's answer.
    pub expect: Expect,
    /// Why it is a fact and not a differential case, if not obvious.
    pub note: &'static str,
    /// The body, on a fresh iommufd.
    pub run: fn(&mut K) -> Outcome,
}

/// ioas, mock device, parent, vIOMMU, vEVENTQ (depth 2), vDEVICE 0x99.
struct Fx {
    ioas: u32,
    stdev: u32,
    idev: u32,
    viommu: u32,
    veventq: u32,
}

fn fixture(k: &mut K) -> Result<Fx, Fail> {
    let ioas = setup("ioas_alloc", k.ioas_alloc())?;
    let dev = setup("mock_domain", k.mock_domain(ioas))?;
    let parent = setup(
        "hwpt_alloc_parent",
        k.hwpt_alloc_nest_parent(dev.idev, ioas),
    )?;
    let (viommu, _) = setup(
        "viommu_alloc",
        k.viommu_alloc(dev.idev, parent, VIOMMU_TYPE_SELFTEST, None),
    )?;
    let veventq = setup(
        "veventq_alloc",
        k.veventq_alloc(viommu, VEVENTQ_TYPE_SELFTEST, 2),
    )?;
    setup("vdevice_alloc", k.vdevice_alloc(viommu, dev.idev, 0x99))?;
    Ok(Fx {
        ioas,
        stdev: dev.stdev,
        idev: dev.idev,
        viommu,
        veventq,
    })
}

fn read_zero_count(k: &mut K) -> Outcome {
    let fx = fixture(k)?;
    check(k.backend().veventq_read_count(fx.veventq, 0)).map(|b| format!("bytes={}", b.len()))
}

fn read_short_header(k: &mut K) -> Outcome {
    let fx = fixture(k)?;
    check(k.backend().veventq_read_count(fx.veventq, VEVENT_HDR - 1))
        .map(|b| format!("bytes={}", b.len()))
}

fn read_header_only(k: &mut K) -> Outcome {
    let fx = fixture(k)?;
    let nested = setup(
        "hwpt_alloc_nested",
        k.hwpt_alloc_nested(
            fx.idev,
            fx.viommu,
            HWPT_DATA_SELFTEST,
            &hwpt_data(IOTLB_DEFAULT),
        ),
    )?;
    setup("attach_nested", k.mock_domain_replace(fx.stdev, nested))?;
    setup("trigger_vevent", k.trigger_vevent(fx.idev))?;
    // The header fits, the event's payload does not.
    check(k.backend().veventq_read_count(fx.veventq, VEVENT_HDR))
        .map(|b| format!("bytes={}", b.len()))
}

fn viommu_on_plain_hwpt_alloc(k: &mut K) -> Outcome {
    let ioas = setup("ioas_alloc", k.ioas_alloc())?;
    let dev = setup("mock_domain", k.mock_domain(ioas))?;
    let plain = setup(
        "hwpt_alloc_plain",
        k.backend().hwpt_alloc(dev.idev, ioas, 0),
    )?;
    check(k.viommu_alloc(dev.idev, plain, VIOMMU_TYPE_SELFTEST, None)).map(|_| String::new())
}

fn inv_entry_len_zero(k: &mut K) -> Outcome {
    let fx = fixture(k)?;
    let bytes = inv_bytes(&[(0, 0x99, 0)], INV_ENTRY_LEN as usize);
    inv_outcome(k.backend().invalidate_raw(
        fx.viommu,
        VIOMMU_INVALIDATE_SELFTEST,
        0,
        1,
        Some(&bytes),
    ))
}

fn inv_null_data(k: &mut K) -> Outcome {
    let fx = fixture(k)?;
    inv_outcome(k.backend().invalidate_raw(
        fx.viommu,
        VIOMMU_INVALIDATE_SELFTEST,
        INV_ENTRY_LEN,
        1,
        None,
    ))
}

fn inv_nonzero_tail(k: &mut K) -> Outcome {
    let fx = fixture(k)?;
    let mut bytes = inv_bytes(&[(0, 0x99, 0)], INV_ENTRY_LEN as usize + 4);
    bytes[INV_ENTRY_LEN as usize] = 1;
    inv_outcome(k.backend().invalidate_raw(
        fx.viommu,
        VIOMMU_INVALIDATE_SELFTEST,
        INV_ENTRY_LEN + 4,
        1,
        Some(&bytes),
    ))
}

fn destroy_veventq_fd_open(k: &mut K) -> Outcome {
    let fx = fixture(k)?;
    check(k.backend().destroy_keep_fds(fx.veventq)).map(|_| String::new())
}

/// The mock never records a queue's index, so destroying any queue clears
/// slot 0; slot 1 stays taken after queue 1 is destroyed.
fn hw_queue_realloc_after_free(k: &mut K) -> Outcome {
    let fx = fixture(k)?;
    setup(
        "ioas_map",
        k.ioas_map_fixed(fx.ioas, MOCK_APERTURE_START, 2 * PAGE),
    )?;
    setup(
        "hw_queue_0",
        k.hw_queue_alloc(
            fx.viommu,
            HW_QUEUE_TYPE_SELFTEST,
            0,
            MOCK_APERTURE_START,
            PAGE,
        ),
    )?;
    let q1 = setup(
        "hw_queue_1",
        k.hw_queue_alloc(
            fx.viommu,
            HW_QUEUE_TYPE_SELFTEST,
            1,
            MOCK_APERTURE_START + PAGE,
            PAGE,
        ),
    )?;
    setup("destroy_q1", k.destroy(q1))?;
    check(k.hw_queue_alloc(
        fx.viommu,
        HW_QUEUE_TYPE_SELFTEST,
        1,
        MOCK_APERTURE_START + PAGE,
        PAGE,
    ))
    .map(|q| format!("queue={q}"))
}

/// Every fact, in the order they run.
pub fn all() -> Vec<Fact> {
    use libc::*;
    vec![
        Fact {
            name: "veventq_read_zero_count",
            expect: Expect::Err(EINVAL),
            note: "",
            run: read_zero_count,
        },
        Fact {
            name: "veventq_read_short_header",
            expect: Expect::Err(EINVAL),
            note: "",
            run: read_short_header,
        },
        Fact {
            name: "veventq_read_header_only",
            expect: Expect::Err(EINVAL),
            note: "",
            run: read_header_only,
        },
        Fact {
            name: "destroy_veventq_fd_open",
            expect: Expect::Err(EBUSY),
            note: "the vEVENTQ file holds the object; close it before IOMMU_DESTROY",
            run: destroy_veventq_fd_open,
        },
        Fact {
            name: "viommu_on_plain_hwpt_alloc",
            expect: Expect::Err(EINVAL),
            note: "",
            run: viommu_on_plain_hwpt_alloc,
        },
        Fact {
            name: "inv_entry_len_zero",
            expect: Expect::Err(EINVAL),
            note: "",
            run: inv_entry_len_zero,
        },
        Fact {
            name: "inv_null_data",
            expect: Expect::Err(EINVAL),
            note: "",
            run: inv_null_data,
        },
        Fact {
            name: "inv_nonzero_tail",
            expect: Expect::Err(E2BIG),
            note: "",
            run: inv_nonzero_tail,
        },
        Fact {
            name: "hw_queue_realloc_after_free",
            expect: Expect::Err(EEXIST),
            note:
                "selftest mock defect: mock_hw_queue.index is never set, so destroy clears slot 0",
            run: hw_queue_realloc_after_free,
        },
    ]
}

/// Runs every fact on fresh iommufd contexts; prints one line each and
/// returns how many did not match.
pub fn run_all() -> usize {
    let mut bad = 0;
    for f in all() {
        let out = match RawKernel::open() {
            Ok(k) => (f.run)(&mut Ctx::new(Box::new(k))),
            Err(e) => Err(Fail::Setup("open", e)),
        };
        let ok = f.expect.matches(&out);
        if !ok {
            bad += 1;
        }
        let note = if f.note.is_empty() {
            String::new()
        } else {
            format!(" [{}]", f.note)
        };
        println!(
            "fact {}: kernel={} expected={} {}{note}",
            f.name,
            show(&out),
            f.expect,
            if ok { "OK" } else { "UNEXPECTED" }
        );
    }
    bad
}
