//! Checks of the CMDQV map beyond the generated per-field tests: the
//! guest-visible PARAM built from named fields, the VINTF logical-page
//! aliasing rules through the accessors, and 64-bit BASE written as halves.

use cmdqv_regs::regfile::{self, Hooks, RegFile};
use cmdqv_regs::{enums::GuestParam, Cmdqv, PARAM, VCMDQ_PAGE1};
use regmap_rt::tock_registers::LocalRegisterCopy;
use regmap_rt::FakeMmio;

#[test]
fn guest_visible_param_from_named_fields() {
    // Version 1, 2^1 VCMDQs, 2^0 VINTFs, 2^4 SID slots: what QEMU's model
    // reports to the guest. By hand: 1 | 1 << 4 | 0 << 8 | 4 << 12 = 0x4011.
    let v = PARAM::VER.val(1)
        + PARAM::NUM_VCMDQ_LOG2.val(1)
        + PARAM::NUM_VINTF_LOG2.val(0)
        + PARAM::NUM_SID_PER_VM_LOG2.val(4);
    assert_eq!(v.value, 0x4011);
    assert_eq!(u64::from(v.value), GuestParam::QEMU_GUEST.value());
    assert_eq!(PARAM::RESET, 0x4011);
    let p = LocalRegisterCopy::<u32, PARAM::Register>::new(v.value);
    assert_eq!(1 << p.read(PARAM::NUM_SID_PER_VM_LOG2), 16);
}

#[test]
fn vintf0_logical_vcmdq1_offsets_follow_the_aliasing_rules() {
    let mmio = FakeMmio::<4>::new();
    let cmdqv = Cmdqv::new(&mmio);
    // Page 0 of VINTF i at 0x30000 + 0x20000 * i, page 1 at +0x10000, then
    // 0x80 per logical VCMDQ; inside, the direct-aperture register offsets.
    let p0 = cmdqv.vintf_page0(0).unwrap().lvcmdq(1).unwrap();
    let p1 = cmdqv.vintf_page1(0).unwrap().lvcmdq(1).unwrap();
    let base0 = 0x30000 + 0x80;
    let base1 = 0x40000 + 0x80;
    assert_eq!(p0.cons().offset(), base0);
    assert_eq!(p0.prod().offset(), base0 + 0x4);
    assert_eq!(p0.config().offset(), base0 + 0x8);
    assert_eq!(p0.status().offset(), base0 + 0xc);
    assert_eq!(p0.gerror().offset(), base0 + 0x10);
    assert_eq!(p0.gerrorn().offset(), base0 + 0x14);
    assert_eq!(p1.base().offset(), base1);
    assert_eq!(p1.cons_indx_base().offset(), base1 + 0x8);
    // The direct aperture of global VCMDQ 1 has the same layout.
    assert_eq!(
        cmdqv.vcmdq(1).unwrap().prod().offset(),
        0x10000 + 0x80 + 0x4
    );
    assert_eq!(
        cmdqv.vcmdq_page1(1).unwrap().base().offset(),
        0x20000 + 0x80
    );
    // VINTF 1's pages start 128 KiB later.
    assert_eq!(
        cmdqv
            .vintf_page0(1)
            .unwrap()
            .lvcmdq(0)
            .unwrap()
            .cons()
            .offset(),
        0x50000
    );
}

/// Logical VCMDQ l of VINTF v is the global VCMDQ whose CMDQ_ALLOC_MAP says
/// (ALLOC, VIRT_INTF_INDX = v, LVCMDQ = l), as the hardware resolves it.
struct AllocMap;
impl Hooks for AllocMap {
    fn lvcmdq_to_vcmdq(&mut self, regs: &RegFile, idx: &[u32]) -> Option<[u32; 1]> {
        let (v, l) = (*idx.first()?, *idx.get(1)?);
        (0..128u32)
            .find(|&q| {
                regs.cmdq_alloc_map(q)
                    .is_some_and(|m| m & 1 == 1 && (m >> 1) & 0x7f == l && (m >> 15) & 0x3f == v)
            })
            .map(|q| [q])
    }
}

#[test]
fn base_written_as_halves_reads_back_as_one_value() {
    let mut rf = RegFile::new();
    assert_eq!(VCMDQ_PAGE1::BASE::OFFSET, 0x20000);
    assert_eq!(VCMDQ_PAGE1::BASE::WIDTH, 64);
    let q3 = 0x20000u64 + 3 * 0x80;
    let value = 0x0000_8765_4321_0013u64 & 0x0000_ffff_ffff_ffff; // ADDR 47:5 | LOG2SIZE 0x13
    rf.write(q3, 4, value & 0xffff_ffff).unwrap();
    rf.write(q3 + 4, 4, value >> 32).unwrap();
    assert_eq!(rf.read(q3, 8).unwrap(), value);
    assert_eq!(rf.vcmdq_page1_base(3), Some(value));
    // And through VINTF 0's logical VCMDQ 1, once CMDQ_ALLOC_MAP maps it to VCMDQ 3.
    let mut hooks = AllocMap;
    let logical = 0x40000u64 + 0x80;
    assert_eq!(
        rf.read_with(&mut hooks, logical, 8),
        Err(regfile::AccessError::AliasUnmapped)
    );
    rf.write(0x200 + 3 * 4, 4, 1 | (1 << 1)).unwrap(); // ALLOC, LVCMDQ 1, VINTF 0
    assert_eq!(rf.read_with(&mut hooks, logical, 8).unwrap(), value);
}

#[test]
fn block_shape_constants_locate_what_the_accessors_reach() {
    use cmdqv_regs::{VCMDQ, VINTF, VINTF_PAGE0};
    // Public facts (Linux tegra241-cmdqv.c, QEMU's model): VINTF i at
    // 0x1000 + 0x100 * i, VCMDQ q's page 0 at 0x10000 + 0x80 * q, VINTF i's
    // page 0 at 0x30000 + 0x20000 * i holding 128 logical VCMDQs 0x80 apart.
    assert_eq!(
        (VINTF::OFFSET, VINTF::STRIDE, VINTF::COUNT),
        (0x1000, 0x100, 64)
    );
    assert_eq!(
        (VCMDQ::OFFSET, VCMDQ::STRIDE, VCMDQ::COUNT),
        (0x10000, 0x80, 128)
    );
    assert_eq!(
        (VINTF_PAGE0::OFFSET, VINTF_PAGE0::STRIDE, VINTF_PAGE0::COUNT),
        (0x30000, 0x20000, 64)
    );
    assert_eq!(VINTF_PAGE0::LVCMDQ::REL_OFFSET, 0);
    assert_eq!(VINTF_PAGE0::LVCMDQ::STRIDE, 0x80);
    assert_eq!(VINTF_PAGE0::LVCMDQ::COUNT, 128);
    // Composed, the constants name the offsets the handles compute.
    let mmio = FakeMmio::<4>::new();
    let cmdqv = Cmdqv::new(&mmio);
    for (v, l) in [(0usize, 0usize), (0, 1), (3, 127)] {
        let lv = cmdqv.vintf_page0(v).unwrap().lvcmdq(l).unwrap();
        let base = VINTF_PAGE0::OFFSET
            + v * VINTF_PAGE0::STRIDE
            + VINTF_PAGE0::LVCMDQ::REL_OFFSET
            + l * VINTF_PAGE0::LVCMDQ::STRIDE;
        assert_eq!(
            lv.prod().offset(),
            base + VINTF_PAGE0::LVCMDQ::PROD::REL_OFFSET
        );
        assert_eq!(
            lv.gerrorn().offset(),
            base + VINTF_PAGE0::LVCMDQ::GERRORN::REL_OFFSET
        );
    }
    for q in [0usize, 5, 127] {
        let r = cmdqv.vcmdq(q).unwrap();
        let base = VCMDQ::OFFSET + q * VCMDQ::STRIDE;
        assert_eq!(r.cons().offset(), base + VCMDQ::CONS::REL_OFFSET);
        assert_eq!(r.status().offset(), base + VCMDQ::STATUS::REL_OFFSET);
        assert_eq!(VCMDQ::STATUS::REL_OFFSET, 0xc);
        assert_eq!(VCMDQ::STATUS::OFFSET, VCMDQ::OFFSET + 0xc);
    }
    for v in [0usize, 63] {
        let r = cmdqv.vintf(v).unwrap();
        let base = VINTF::OFFSET + v * VINTF::STRIDE;
        assert_eq!(
            r.sid_match(2).unwrap().offset(),
            base + VINTF::SID_MATCH::REL_OFFSET + 2 * VINTF::SID_MATCH::STRIDE
        );
        assert_eq!(VINTF::SID_MATCH::REL_OFFSET, 0x40);
    }
}
