//! Emulated command queue throughput: TLBI_NH_VA commands consumed from guest
//! memory and forwarded to `IOMMU_HWPT_INVALIDATE` on the simulated backend.
//! Prints `cmdq: ns_per_cmd=<x>` (target: below 200).
//!
//! `cargo bench -p vdev --bench cmdq`

use std::sync::Arc;
use std::time::Instant;

use vdev::backend::sim::{SimBackend, SimConfig, SimGuestRam};
use vdev::backend::{Backend, Device, Ioas, NestParent};
use vdev::cmdqv::lifecycle::Lifecycle;
use vdev::smmuv3::cmdq::Geometry;
use vdev::smmuv3::SmmuCore;
use vdev::vmm::RecordingRegions;

const RAM: u64 = 0x4000_0000;
const CMDQ: u64 = RAM + 0x20_0000;
const LOG2Q: u32 = 15;

/// A core over a new IOAS of guest RAM and a new bound device with StreamID
/// `psid` (its nesting parent's device); the device is not plugged yet.
fn new_core(sim: &SimBackend, ram: &Arc<SimGuestRam>, psid: u32) -> (SmmuCore, Arc<Device>) {
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).expect("ioas");
    ioas.map(RAM, 16 << 20, 0).expect("map");
    let dev = Device::external(&b, sim.add_device(psid));
    let parent = NestParent::new(&dev, &ioas).expect("parent");
    let lc = Lifecycle::new(b, parent, Arc::new(RecordingRegions::new()), 0x900_0000)
        .with_kick(Arc::new(sim.clone()));
    let core = SmmuCore::new(lc, Arc::new(sim.clone()), ram.clone());
    (core, dev)
}

fn main() {
    let ram = Arc::new(SimGuestRam::new().with_region(RAM, 16 << 20, 2 << 20));
    let sim = SimBackend::new(SimConfig::tegra241(), ram.clone());
    let (mut core, dev) = new_core(&sim, &ram, 0x100);
    core.plug(&dev, 0x10).expect("plug");

    let entries = 1u32 << LOG2Q;
    for i in 0..u64::from(entries) {
        ram.write_u64(CMDQ + i * 16, 0x12 | (1 << 48));
        ram.write_u64(CMDQ + i * 16 + 8, (i << 12) | 1);
    }
    let g = Geometry::from_base(CMDQ | u64::from(LOG2Q), 19);
    let mask = (entries << 1) - 1;
    // The guest publishes 256 commands per PROD write.
    let per_kick = 256u32;
    let rounds = 4096u32;
    let (mut prod, mut cons) = (0u32, 0u32);
    let mut run = |n: u32| -> u64 {
        let mut done = 0;
        for _ in 0..n {
            prod = (prod + per_kick) & mask;
            let o = core.consume(g, prod, cons);
            assert_eq!(o.error, None);
            cons = o.cons;
            done += o.executed;
        }
        done
    };
    run(64); // warm-up
    let t = Instant::now();
    let n = run(rounds);
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!("cmdq: commands={n} per_prod_write={per_kick}");
    println!("cmdq: ns_per_cmd={ns:.1}");
    drop(core);
    mmio(&sim, &ram);
}

/// The same commands published by guest CMDQ_PROD writes through the
/// vSMMUv3's MMIO window: register decode, hooks and consumption.
fn mmio(sim: &SimBackend, ram: &Arc<SimGuestRam>) {
    use smmuv3_regs::{CMDQ_BASE, CMDQ_CONS, CMDQ_PROD, CR0};
    use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config};
    use vdev::vmm::{CountingIrq, MmioDevice};

    let (core, dev) = new_core(sim, ram, 0x200);
    let irq = Arc::new(CountingIrq::new());
    let cfg = Vsmmuv3Config {
        backing_page: 2 << 20,
        cmdqv: false,
        irqs: Irqs::shared(irq),
    };
    let info = host_smmuv3_info(&dev).expect("hw info");
    let mut smmu = Vsmmuv3::new(core, &info, cfg).expect("vsmmu");
    smmu.plug(&dev, 0x10).expect("plug");
    let w32 = |s: &mut Vsmmuv3, off: usize, v: u32| s.mmio_write(off as u64, &v.to_le_bytes());
    smmu.mmio_write(
        CMDQ_BASE::OFFSET as u64,
        &(CMDQ | u64::from(LOG2Q)).to_le_bytes(),
    );
    w32(&mut smmu, CR0::OFFSET, CR0::CMDQEN.val(1).value);
    let entries = 1u32 << LOG2Q;
    let mask = (entries << 1) - 1;
    let per_kick = 256u32;
    let mut prod = 0u32;
    let mut run = |smmu: &mut Vsmmuv3, n: u32| -> u64 {
        for _ in 0..n {
            prod = (prod + per_kick) & mask;
            w32(smmu, CMDQ_PROD::OFFSET, prod);
        }
        let mut c = [0u8; 4];
        smmu.mmio_read(CMDQ_CONS::OFFSET as u64, &mut c);
        assert_eq!(u32::from_le_bytes(c), prod, "queue stopped");
        u64::from(n) * u64::from(per_kick)
    };
    run(&mut smmu, 64);
    let t = Instant::now();
    let n = run(&mut smmu, 4096);
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!("cmdq_mmio: ns_per_cmd={ns:.1} (CMDQ_PROD writes through the MMIO window)");
}
