//! The multi-step cases: the whole lifecycle in a VMM's order, and vEVENT
//! delivery across an overflow and across virtual ids.

use std::fmt::Write;

use super::*;

/// The full lifecycle in the order a VMM runs it, every returned value
/// recorded, teardown in the order the kernel requires.
pub(super) fn lifecycle(b: &mut Ctx, _: &Fx) -> Outcome {
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

/// Three vEVENTs into a queue of two, read; then one more.
pub(super) fn veventq_overflow(b: &mut Ctx, fx: &Fx) -> Outcome {
    let q = fx.veventq;
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

/// vEVENTs of the device under one virtual id, then under another.
pub(super) fn veventq_sequence_across_vdevices(b: &mut Ctx, fx: &Fx) -> Outcome {
    let q = setup("veventq_alloc", veventq(b, fx, 4))?;
    let v1 = setup(
        "vdevice_alloc",
        b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99),
    )?;
    let nested = attach_nested(b, fx)?;
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
