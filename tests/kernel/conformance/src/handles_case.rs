//! The lifecycle once more, through `vdev`'s RAII handles — the layer the
//! device models use — with the handles dropped in a hostile order. The
//! handles must still destroy every object in an order the kernel accepts:
//! afterwards each recorded id must be gone (`IOMMU_DESTROY` answers
//! ENOENT).

use crate::cases::{
    hwpt_data, inv_bytes, show_vevents, Fail, Outcome, HWPT_DATA_SELFTEST, INV_ENTRY_LEN,
    IOTLB_DEFAULT, MOCK_APERTURE_START, PAGE,
};
use crate::ctx::{Buffer, Errno};
use std::fmt::Write;
use std::sync::Arc;
use vdev::backend::{Backend, Device, Ioas, NestParent, Selftest, Viommu};

fn step<T>(name: &'static str, r: vdev::backend::Result<T>) -> Result<T, Fail> {
    r.map_err(|e| Fail::Step(name, Errno(e.errno())))
}

/// Runs the handle lifecycle on `b`.
pub fn lifecycle(st: Arc<dyn Selftest>) -> Outcome {
    let b: Arc<dyn Backend> = st.clone();
    // Declared first so it is dropped last, after every handle.
    let buf = Buffer::new(2 * PAGE as usize).map_err(|e| Fail::Setup("buffer", e))?;
    let mut r = String::new();
    let ioas = step("ioas", Ioas::new(&b))?;
    let dev = step("mock_device", Device::mock(st.as_ref(), &ioas))?;
    let stdev = dev
        .stdev_id()
        .ok_or(Fail::Unsupported("mock device without stdev"))?;
    let info = step("hw_info", dev.hw_info_typed())?;
    let _ = write!(
        r,
        "hw_info={:#x}/{:x?}",
        info.data_type,
        info.selftest_reg()
    );
    let parent = step("nest_parent", NestParent::new(&dev, &ioas))?;
    let viommu = step("viommu", Viommu::new(&dev, &parent, 0xbeef))?;
    let page = step("map_page", viommu.map_page())?;
    let _ = write!(r, " page[0]={:x?}", page.read32(0));
    let veventq = step("veventq", viommu.alloc_veventq(2))?;
    let vdev = step("vdevice", viommu.alloc_vdevice(&dev, 0x99))?;
    let nested = step(
        "nested",
        viommu.alloc_nested(&dev, HWPT_DATA_SELFTEST, &hwpt_data(IOTLB_DEFAULT)),
    )?;
    step(
        "ioas_map",
        ioas.map(MOCK_APERTURE_START, 2 * PAGE, buf.user_va()),
    )?;
    let q0 = step(
        "hw_queue_0",
        viommu.alloc_hw_queue(None, MOCK_APERTURE_START, PAGE),
    )?;
    let q1 = step(
        "hw_queue_1",
        viommu.alloc_hw_queue(Some(&q0), MOCK_APERTURE_START + PAGE, PAGE),
    )?;
    let _ = write!(
        r,
        " q0={}/{} q1={}/{}",
        q0.id(),
        q0.index(),
        q1.id(),
        q1.index()
    );
    step("attach_nested", st.mock_domain_replace(stdev, nested.id()))?;
    step("trigger_vevent", st.trigger_vevent(dev.id()))?;
    let ev = step("veventq_read", veventq.read())?;
    let _ = write!(r, " vevents=<{}>", show_vevents(&ev));
    let n = step(
        "invalidate",
        viommu.invalidate(&inv_bytes(&[(0, 0x99, 0)], INV_ENTRY_LEN as usize)),
    )?;
    let _ = write!(r, " inv_num={n}");
    step("attach_ioas", st.mock_domain_replace(stdev, ioas.id()))?;

    let ids = [
        ("ioas", ioas.id()),
        ("stdev", stdev),
        ("parent", parent.id()),
        ("viommu", viommu.id()),
        ("veventq", veventq.id()),
        ("vdevice", vdev.id()),
        ("nested", nested.id()),
        ("q0", q0.id()),
        ("q1", q1.id()),
    ];
    // Hostile drop order: parents first. The handles' Arcs must defer each
    // destroy until nothing depends on the object.
    drop(ioas);
    drop(dev);
    drop(parent);
    drop(viommu);
    drop(q0);
    drop(page);
    drop(vdev);
    drop(veventq);
    drop(nested);
    drop(q1);
    let mut left = Vec::new();
    for (name, id) in ids {
        match b.destroy(id) {
            Err(e) if e.errno() == libc::ENOENT => {}
            other => left.push(format!(
                "{name}:{}",
                other.map_or_else(|e| e.errno().to_string(), |_| "destroyed-late".into())
            )),
        }
    }
    if left.is_empty() {
        r.push_str(" teardown=all-gone");
    } else {
        let _ = write!(r, " teardown=left[{}]", left.join(","));
    }
    drop(b);
    drop(st);
    drop(buf);
    Ok(r)
}
