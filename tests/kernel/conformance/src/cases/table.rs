//! Every case, in the order they run: one row each, `name, fixture, the
//! kernel's answer, the requests under test`. A request whose errno is the
//! expected answer returns nothing to compare (`only`); a success renders
//! the values the backend handed back.

use super::flows::{lifecycle, veventq_overflow, veventq_sequence_across_vdevices};
use super::*;

/// First IOVA of the mock's aperture, as the rows use it.
const START: u64 = MOCK_APERTURE_START;
/// The invalidation entry most rows start from: vDEVICE 0x99, cache 0.
const ENTRY: (u32, u32, u32) = (0, 0x99, 0);
/// A cache id the mock refuses.
const BAD_CACHE: u32 = MOCK_DEV_CACHE_ID_MAX + 1;

/// Renders `IOMMU_GET_HW_INFO`'s type and `test_reg`.
fn hw_info(b: &mut Ctx, fx: &Fx, input_type: Option<u32>) -> Outcome {
    let (t, reg) = check(b.get_hw_info(fx.dev.idev, input_type))?;
    Ok(format!("type={t:#x} test_reg={reg:#x}"))
}

/// A selftest vIOMMU without driver data on `hwpt`, of `viommu_type`, for `dev`.
fn viommu(b: &mut Ctx, dev: u32, hwpt: u32, viommu_type: u32) -> Outcome {
    only(b.viommu_alloc(dev, hwpt, viommu_type, None))
}

/// Every case, in the order they run.
pub fn all() -> Vec<Case> {
    macro_rules! case {
        ($name:ident, $fx:ident $(($arg:expr))?, ok, $run:expr) => {
            Case {
                name: stringify!($name),
                expect: Expect::Ok,
                fixture: Fixture::$fx $(($arg))?,
                run: $run,
            }
        };
        ($name:ident, $fx:ident $(($arg:expr))?, $errno:ident, $run:expr) => {
            Case {
                name: stringify!($name),
                expect: Expect::Err(libc::$errno),
                fixture: Fixture::$fx $(($arg))?,
                run: $run,
            }
        };
    }
    const SELFTEST: u32 = VIOMMU_TYPE_SELFTEST;
    vec![
        case!(lifecycle, Empty, ok, lifecycle),
        // ------------------------------------------------------------ GET_HW_INFO
        case!(hw_info_default, Parent, ok, |b, fx| hw_info(b, fx, None)),
        case!(hw_info_input_type, Parent, ok, |b, fx| hw_info(
            b,
            fx,
            Some(HW_INFO_TYPE_SELFTEST)
        )),
        case!(hw_info_input_type_unknown, Parent, EOPNOTSUPP, |b, fx| {
            only(b.get_hw_info(fx.dev.idev, Some(0x1234)))
        }),
        case!(hw_info_bad_dev, Parent, ENOENT, |b, fx| only(
            b.get_hw_info(fx.ioas, None)
        )),
        // ------------------------------------------------------------ vIOMMU
        case!(viommu_alloc_plain, Parent, ok, |b, fx| {
            let (id, out) = check(b.viommu_alloc(fx.dev.idev, fx.parent, SELFTEST, None))?;
            Ok(format!("viommu={id} data={}", out.is_some()))
        }),
        case!(viommu_alloc_hwpt_zero, Parent, ENOENT, |b, fx| viommu(
            b,
            fx.dev.idev,
            0,
            SELFTEST
        )),
        // The mock device's automatic domain is a paging HWPT, not a parent.
        case!(
            viommu_alloc_not_nest_parent,
            Parent,
            EINVAL,
            |b, fx| viommu(b, fx.dev.idev, fx.dev.hwpt, SELFTEST)
        ),
        case!(viommu_alloc_bad_type, Parent, EOPNOTSUPP, |b, fx| viommu(
            b,
            fx.dev.idev,
            fx.parent,
            0xdead
        )),
        case!(viommu_alloc_bad_dev, Parent, ENOENT, |b, fx| viommu(
            b, 9999, fx.parent, SELFTEST
        )),
        // ------------------------------------------------------------ destroy order
        case!(destroy_parent_under_viommu, Viommu, EBUSY, |b, fx| only(
            b.destroy(fx.parent)
        )),
        case!(destroy_viommu_with_nested, Viommu, EBUSY, |b, fx| {
            setup("hwpt_alloc_nested", nested(b, fx.dev.idev, fx.viommu))?;
            only(b.destroy(fx.viommu))
        }),
        case!(destroy_viommu_with_vdevice, Vdevice, EBUSY, |b, fx| only(
            b.destroy(fx.viommu)
        )),
        case!(destroy_viommu_with_veventq, Viommu, EBUSY, |b, fx| {
            setup("veventq_alloc", veventq(b, fx, 2))?;
            only(b.destroy(fx.viommu))
        }),
        case!(destroy_viommu_with_queue, TwoQueues, EBUSY, |b, fx| only(
            b.destroy(fx.viommu)
        )),
        case!(destroy_viommu_unused, Viommu, ok, |b, fx| {
            check(b.destroy(fx.viommu))?;
            // The parent is free again once its vIOMMU is gone.
            only(b.destroy(fx.parent))
        }),
        case!(destroy_unknown_id, Viommu, ENOENT, |b, _| only(
            b.destroy(9999)
        )),
        case!(destroy_ioas_attached, Parent, EBUSY, |b, fx| only(
            b.destroy(fx.ioas)
        )),
        // ------------------------------------------------------------ nested HWPT
        case!(nested_on_viommu, Viommu, ok, |b, fx| {
            let id = check(nested(b, fx.dev.idev, fx.viommu))?;
            Ok(format!("nested={id}"))
        }),
        case!(nested_on_parent, Viommu, ok, |b, fx| {
            let id = check(nested(b, fx.dev.idev, fx.parent))?;
            Ok(format!("nested={id}"))
        }),
        case!(nested_data_type_none, Viommu, EINVAL, |b, fx| only(
            b.hwpt_alloc_nested(fx.dev.idev, fx.viommu, 0, &hwpt_data(IOTLB_DEFAULT))
        )),
        case!(nested_data_type_unknown, Viommu, EOPNOTSUPP, |b, fx| only(
            b.hwpt_alloc_nested(
                fx.dev.idev,
                fx.viommu,
                HWPT_DATA_SELFTEST + 1,
                &hwpt_data(IOTLB_DEFAULT)
            )
        )),
        // Shorter than the mandatory `iotlb` word.
        case!(nested_data_short, Viommu, EINVAL, |b, fx| only(
            b.hwpt_alloc_nested(
                fx.dev.idev,
                fx.viommu,
                HWPT_DATA_SELFTEST,
                &hwpt_data(IOTLB_DEFAULT)[..3]
            )
        )),
        case!(nested_on_nested, Viommu, EINVAL, |b, fx| {
            let n = setup("hwpt_alloc_nested", nested(b, fx.dev.idev, fx.viommu))?;
            only(nested(b, fx.dev.idev, n))
        }),
        case!(nested_on_paging_hwpt, Viommu, EINVAL, |b, fx| only(nested(
            b,
            fx.dev.idev,
            fx.dev.hwpt
        ))),
        case!(nested_bad_dev, Viommu, ENOENT, |b, fx| only(nested(
            b, fx.ioas, fx.viommu
        ))),
        case!(parent_on_bad_dev, Device, ENOENT, |b, fx| only(
            b.hwpt_alloc_nest_parent(fx.ioas, fx.ioas)
        )),
        case!(parent_on_dev_as_ioas, Device, EINVAL, |b, fx| only(
            b.hwpt_alloc_nest_parent(fx.dev.idev, fx.dev.idev)
        )),
        // ------------------------------------------------------------ mmap
        case!(viommu_alloc_with_data, Parent, ok, |b, fx| {
            let (viommu, out) =
                check(b.viommu_alloc(fx.dev.idev, fx.parent, SELFTEST, Some(0x1234_5678)))?;
            let out = out.ok_or(Fail::Unsupported("viommu driver data"))?;
            Ok(format!(
                "viommu={viommu} out_data={:x?} mmap_offset={:#x} mmap_length={:#x}",
                out.out_data, out.mmap_offset, out.mmap_length
            ))
        }),
        case!(mmap_offset_plus_page, ViommuData, ENXIO, |b, fx| only(
            b.mmap(fx.mmap.0 + PAGE, fx.mmap.1)
        )),
        case!(mmap_offset_plus_two_pages, ViommuData, ENXIO, |b, fx| only(
            b.mmap(fx.mmap.0 + 2 * PAGE, fx.mmap.1)
        )),
        case!(mmap_half_length, ViommuData, ENXIO, |b, fx| only(
            b.mmap(fx.mmap.0, fx.mmap.1 / 2)
        )),
        case!(mmap_double_length, ViommuData, ENXIO, |b, fx| only(
            b.mmap(fx.mmap.0, fx.mmap.1 * 2)
        )),
        case!(mmap_exact_reads_in_data, ViommuData, ok, |b, fx| {
            let h = check(b.mmap(fx.mmap.0, fx.mmap.1))?;
            let w0 = check(b.mmap_read_u32(h, 0))?;
            let w1 = check(b.mmap_read_u32(h, 4))?;
            Ok(format!("page[0]={w0:#x} page[1]={w1:#x}"))
        }),
        case!(destroy_mapped_viommu, ViommuData, EBUSY, |b, fx| {
            setup("mmap", b.mmap(fx.mmap.0, fx.mmap.1))?;
            only(b.destroy(fx.viommu))
        }),
        case!(destroy_viommu_after_munmap, ViommuData, ok, |b, fx| {
            let h = setup("mmap", b.mmap(fx.mmap.0, fx.mmap.1))?;
            setup("munmap", b.munmap(h))?;
            only(b.destroy(fx.viommu))
        }),
        case!(mmap_after_viommu_destroyed, ViommuData, ENXIO, |b, fx| {
            setup("destroy_viommu", b.destroy(fx.viommu))?;
            only(b.mmap(fx.mmap.0, fx.mmap.1))
        }),
        // ------------------------------------------------------------ HW queues
        case!(hw_queue_type_default, Mapped, EOPNOTSUPP, |b, fx| only(
            b.hw_queue_alloc(fx.viommu, HW_QUEUE_TYPE_DEFAULT, 0, START, PAGE)
        )),
        case!(hw_queue_zero_length, Mapped, EINVAL, |b, fx| only(queue(
            b, fx, 0, START, 0
        ))),
        case!(hw_queue_overflow, Mapped, EOVERFLOW, |b, fx| only(queue(
            b,
            fx,
            0,
            u64::MAX,
            PAGE
        ))),
        case!(hw_queue_unmapped_iova, Viommu, ENOENT, |b, fx| only(queue(
            b, fx, 0, START, PAGE
        ))),
        // Two pages mapped; a three-page queue runs off the end.
        case!(hw_queue_partly_unmapped, Mapped, ENOENT, |b, fx| only(
            queue(b, fx, 0, START, 3 * PAGE)
        )),
        case!(hw_queue_out_of_order, Mapped, EIO, |b, fx| only(queue(
            b, fx, 1, START, PAGE
        ))),
        case!(hw_queue_index_out_of_range, Mapped, EINVAL, |b, fx| only(
            queue(b, fx, HW_QUEUE_MAX, START, PAGE)
        )),
        case!(hw_queue_index_huge, Mapped, EINVAL, |b, fx| only(queue(
            b,
            fx,
            u32::MAX,
            START,
            PAGE
        ))),
        // The IOAS is not a vIOMMU.
        case!(hw_queue_bad_viommu, Mapped, ENOENT, |b, fx| only(
            b.hw_queue_alloc(fx.ioas, HW_QUEUE_TYPE_SELFTEST, 0, START, PAGE)
        )),
        case!(hw_queue_first, Mapped, ok, |b, fx| {
            let q = check(queue(b, fx, 0, START, PAGE))?;
            Ok(format!("queue={q}"))
        }),
        case!(hw_queue_duplicate, Mapped, EEXIST, |b, fx| {
            setup("hw_queue_0", queue(b, fx, 0, START, PAGE))?;
            only(queue(b, fx, 0, START, PAGE))
        }),
        // The mock has no alignment rule (Tegra241 does).
        case!(hw_queue_second_unaligned, Mapped, ok, |b, fx| {
            let q0 = setup("hw_queue_0", queue(b, fx, 0, START, PAGE))?;
            let q1 = check(queue(b, fx, 1, START + PAGE / 2, PAGE / 2))?;
            Ok(format!("q0={q0} q1={q1}"))
        }),
        case!(hw_queue_third, TwoQueues, EINVAL, |b, fx| only(queue(
            b, fx, 2, START, PAGE
        ))),
        case!(unmap_pinned_iova, Mapped, EBUSY, |b, fx| {
            setup("hw_queue_0", queue(b, fx, 0, START, PAGE))?;
            only(b.ioas_unmap(fx.ioas, START, PAGE))
        }),
        case!(unmap_unpinned_neighbour, Mapped, ok, |b, fx| {
            setup("hw_queue_0", queue(b, fx, 0, START, PAGE))?;
            only(b.ioas_unmap(fx.ioas, START + PAGE, PAGE))
        }),
        case!(destroy_queues_ascending, TwoQueues, EBUSY, |b, fx| only(
            b.destroy(fx.q[0])
        )),
        case!(destroy_queues_descending, TwoQueues, ok, |b, fx| {
            check(b.destroy(fx.q[1]))?;
            check(b.destroy(fx.q[0]))?;
            // Once no queue pins it, the IOVA can be unmapped.
            only(b.ioas_unmap(fx.ioas, START, PAGE))
        }),
        // ------------------------------------------------------------ vDEVICE
        case!(vdevice_alloc_ok, Viommu, ok, |b, fx| {
            let v = check(b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99))?;
            Ok(format!("vdev={v}"))
        }),
        case!(vdevice_duplicate, Vdevice, EEXIST, |b, fx| only(
            b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99)
        )),
        // One vDEVICE per device, whatever the virtual id.
        case!(vdevice_second_virt_id, Vdevice, EEXIST, |b, fx| only(
            b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x88)
        )),
        case!(vdevice_bad_viommu, Viommu, ENOENT, |b, fx| only(
            b.vdevice_alloc(9999, fx.dev.idev, 0x99)
        )),
        case!(vdevice_bad_dev, Viommu, ENOENT, |b, fx| only(
            b.vdevice_alloc(fx.viommu, 9999, 0x99)
        )),
        case!(vdevice_realloc_after_destroy, Viommu, ok, |b, fx| {
            let v = setup(
                "vdevice_alloc",
                b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99),
            )?;
            setup("destroy_vdevice", b.destroy(v))?;
            let v2 = check(b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x88))?;
            Ok(format!("vdev={v2}"))
        }),
        // Unplugging the device destroys its vDEVICE with it.
        case!(vdevice_tombstone, Viommu, ENOENT, |b, fx| {
            let v = setup(
                "vdevice_alloc",
                b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99),
            )?;
            setup("destroy_stdev", b.destroy(fx.dev.stdev))?;
            only(b.destroy(v))
        }),
        case!(vdevice_second_device, Vdevice, ok, |b, fx| {
            let dev2 = setup("mock_domain_2", b.mock_domain(fx.ioas))?;
            let v = check(b.vdevice_alloc(fx.viommu, dev2.idev, 0x88))?;
            Ok(format!(
                "stdev2={} hwpt2={} idev2={} vdev2={v}",
                dev2.stdev, dev2.hwpt, dev2.idev
            ))
        }),
        // Another device under a virtual id already taken on this vIOMMU.
        case!(vdevice_virt_id_collision, Vdevice, EEXIST, |b, fx| {
            let dev2 = setup("mock_domain_2", b.mock_domain(fx.ioas))?;
            only(b.vdevice_alloc(fx.viommu, dev2.idev, 0x99))
        }),
        // ------------------------------------------------------------ vEVENTQ
        case!(veventq_depth_zero, Viommu, EINVAL, |b, fx| only(veventq(
            b, fx, 0
        ))),
        case!(veventq_depth_over_max, Viommu, EINVAL, |b, fx| only(
            veventq(b, fx, VEVENTQ_MAX_DEPTH + 1)
        )),
        case!(veventq_depth_max, Viommu, ok, |b, fx| {
            let id = check(veventq(b, fx, VEVENTQ_MAX_DEPTH))?;
            Ok(format!("veventq={id}"))
        }),
        case!(veventq_type_default, Viommu, EOPNOTSUPP, |b, fx| only(
            b.veventq_alloc(fx.viommu, 0, 2)
        )),
        case!(veventq_duplicate_type, Viommu, EEXIST, |b, fx| {
            setup("veventq_alloc", veventq(b, fx, 2))?;
            only(veventq(b, fx, 2))
        }),
        case!(veventq_bad_viommu, Viommu, ENOENT, |b, fx| only(
            b.veventq_alloc(fx.ioas, VEVENTQ_TYPE_SELFTEST, 2)
        )),
        case!(veventq_realloc_after_destroy, Viommu, ok, |b, fx| {
            let q = setup("veventq_alloc", veventq(b, fx, 2))?;
            check(b.destroy(q))?;
            let q2 = check(veventq(b, fx, 2))?;
            Ok(format!("veventq2={q2}"))
        }),
        case!(
            trigger_after_veventq_destroyed,
            Vevents(2),
            EOPNOTSUPP,
            |b, fx| {
                check(b.destroy(fx.veventq))?;
                only(b.trigger_vevent(fx.dev.idev))
            }
        ),
        case!(veventq_read_empty, Vevents(2), ok, |b, fx| check(
            b.veventq_read(fx.veventq)
        )
        .map(|v| show_vevents(&v))),
        case!(veventq_trigger_and_read, Vevents(2), ok, |b, fx| {
            check(b.trigger_vevent(fx.dev.idev))?;
            check(b.veventq_read(fx.veventq)).map(|v| show_vevents(&v))
        }),
        case!(veventq_overflow, Vevents(2), ok, veventq_overflow),
        case!(
            veventq_sequence_across_vdevices,
            Viommu,
            ok,
            veventq_sequence_across_vdevices
        ),
        case!(trigger_vevent_no_vdevice, Viommu, ENOENT, |b, fx| {
            setup("veventq_alloc", veventq(b, fx, 2))?;
            only(b.trigger_vevent(fx.dev.idev))
        }),
        // vDEVICE present, but the device is not attached to a nested domain.
        case!(trigger_vevent_detached, Vdevice, ENOENT, |b, fx| {
            setup("veventq_alloc", veventq(b, fx, 2))?;
            only(b.trigger_vevent(fx.dev.idev))
        }),
        case!(replace_nested_without_vdevice, Viommu, ENOENT, |b, fx| {
            let nested = setup("hwpt_alloc_nested", nested(b, fx.dev.idev, fx.viommu))?;
            only(b.mock_domain_replace(fx.dev.stdev, nested))
        }),
        case!(destroy_attached_nested, Vdevice, EBUSY, |b, fx| {
            let nested = attach_nested(b, fx)?;
            only(b.destroy(nested))
        }),
        case!(destroy_vdevice_attached, Viommu, ok, |b, fx| {
            let v = setup(
                "vdevice_alloc",
                b.vdevice_alloc(fx.viommu, fx.dev.idev, 0x99),
            )?;
            attach_nested(b, fx)?;
            only(b.destroy(v))
        }),
        case!(trigger_vevent_no_veventq, Vdevice, EOPNOTSUPP, |b, fx| {
            attach_nested(b, fx)?;
            only(b.trigger_vevent(fx.dev.idev))
        }),
        // ------------------------------------------------------------ invalidation
        case!(inv_zero_entries, Vdevice, ok, |b, fx| inv(
            b,
            fx.viommu,
            &[]
        )),
        case!(inv_bad_data_type, Vdevice, EINVAL, |b, fx| check_inv(
            b,
            fx.viommu,
            VIOMMU_INVALIDATE_SELFTEST_INVALID,
            INV_ENTRY_LEN,
            &inv_bytes(&[ENTRY], INV_ENTRY_LEN as usize)
        )),
        // A longer entry whose tail is zero is accepted (extensible struct).
        case!(inv_entry_len_plus_one, Vdevice, ok, |b, fx| check_inv(
            b,
            fx.viommu,
            VIOMMU_INVALIDATE_SELFTEST,
            INV_ENTRY_LEN + 1,
            &inv_bytes(&[ENTRY], INV_ENTRY_LEN as usize + 1)
        )),
        case!(inv_entry_len_one, Vdevice, EINVAL, |b, fx| check_inv(
            b,
            fx.viommu,
            VIOMMU_INVALIDATE_SELFTEST,
            1,
            &[0]
        )),
        case!(inv_bad_flags, Vdevice, EOPNOTSUPP, |b, fx| inv(
            b,
            fx.viommu,
            &[(0xffff_ffff, 0x99, 0)]
        )),
        case!(inv_bad_cache_id, Vdevice, EINVAL, |b, fx| inv(
            b,
            fx.viommu,
            &[(0, 0x99, BAD_CACHE)]
        )),
        case!(inv_unknown_vdev_id, Vdevice, EINVAL, |b, fx| inv(
            b,
            fx.viommu,
            &[(0, 0x9, 0)]
        )),
        case!(
            inv_second_entry_bad_flags,
            Vdevice,
            EOPNOTSUPP,
            |b, fx| inv(b, fx.viommu, &[ENTRY, (0xffff_ffff, 0x99, 1)])
        ),
        case!(inv_second_entry_bad_cache_id, Vdevice, EINVAL, |b, fx| inv(
            b,
            fx.viommu,
            &[ENTRY, (0, 0x99, BAD_CACHE)]
        )),
        case!(inv_two_entries, Vdevice, ok, |b, fx| inv(
            b,
            fx.viommu,
            &[(0, 0x99, 2), (0, 0x99, 3)]
        )),
        case!(inv_flag_all, Vdevice, ok, |b, fx| inv(
            b,
            fx.viommu,
            &[(INVALIDATE_FLAG_ALL, 0x99, 0)]
        )),
        // The cache id is checked even when the flag says "all".
        case!(inv_flag_all_bad_cache_id, Vdevice, EINVAL, |b, fx| inv(
            b,
            fx.viommu,
            &[(INVALIDATE_FLAG_ALL, 0x99, BAD_CACHE)]
        )),
        case!(inv_on_ioas, Vdevice, EINVAL, |b, fx| check_inv(
            b,
            fx.ioas,
            VIOMMU_INVALIDATE_SELFTEST,
            INV_ENTRY_LEN,
            &inv_bytes(&[ENTRY], INV_ENTRY_LEN as usize)
        )),
        // ------------------------------------------------------------ IOAS
        case!(ioas_map_unmap, Ioas, ok, |b, fx| {
            check(b.ioas_map_fixed(fx.ioas, START, 4 * PAGE))?;
            only(b.ioas_unmap(fx.ioas, START, 4 * PAGE))
        }),
        case!(ioas_unmap_unmapped, Ioas, ENOENT, |b, fx| only(
            b.ioas_unmap(fx.ioas, START, PAGE)
        )),
        case!(ioas_map_overlap, Ioas, EEXIST, |b, fx| {
            setup("ioas_map", b.ioas_map_fixed(fx.ioas, START, 2 * PAGE))?;
            only(b.ioas_map_fixed(fx.ioas, START + PAGE, 2 * PAGE))
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique() {
        let all = all();
        let mut names: Vec<_> = all.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
