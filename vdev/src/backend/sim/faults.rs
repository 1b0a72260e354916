//! Fault injection: a call of a chosen kind (or any call) fails with a
//! chosen errno before it changes anything, on its n-th occurrence or every
//! time. Every call of the backend traits (`Backend`, `Selftest`, `Kick`),
//! the VFIO attach and detach a VMM makes (`attach_device`,
//! `detach_device`: `Op::VfioAttach`, `Op::VfioDetach`) and the SMMU event
//! report consult the rules first (`SimBackend::begin`); only `add_device`
//! (binding a device, which has no failure of its own here) does not.

use super::objects::State;
use super::SimBackend;
use crate::backend::{Error, Op, Result};

/// When an injected fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultWhen {
    /// The n-th matching call after injection (1-based).
    Nth(u64),
    /// Every matching call.
    Every,
}

/// An injected failure: matching calls fail with `errno` before changing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The call to fail (`None`: any call).
    pub op: Option<Op>,
    /// Which calls.
    pub when: FaultWhen,
    /// The errno to return.
    pub errno: i32,
}

/// An injected fault and how many matching calls it has seen.
#[derive(Clone, Copy)]
pub(super) struct FaultRule {
    fault: Fault,
    seen: u64,
    fired: u64,
}

/// Consults the injected faults for a call of `op`: every matching rule
/// counts the call, the first that fires fails it.
pub(super) fn consult(st: &mut State, op: Op) -> Result<()> {
    for r in st.faults.iter_mut() {
        if r.fault.op.is_none_or(|o| o == op) {
            r.seen += 1;
            let fire = match r.fault.when {
                FaultWhen::Every => true,
                FaultWhen::Nth(n) => r.seen == n,
            };
            if fire {
                r.fired += 1;
                return Err(Error::new(op, r.fault.errno));
            }
        }
    }
    Ok(())
}

impl SimBackend {
    /// Injects a fault.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(FaultRule {
            fault,
            seen: 0,
            fired: 0,
        });
    }

    /// How many calls the injected faults failed so far, over all rules (a
    /// test checks that the fault it injected was reached).
    pub fn faults_fired(&self) -> u64 {
        self.lock().faults.iter().map(|r| r.fired).sum()
    }

    /// Removes all injected faults.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::sim::testing::{cmd_bytes, errno, ram, rig, tlbi_asid, PSID, RAM, RAM_LEN};
    use crate::backend::sim::{regs, Fault, FaultWhen, SimBackend, SimConfig};
    use crate::backend::{Backend, Device, Ioas, Kick, NestParent, Op, Viommu};
    use std::sync::Arc;

    /// The whole lifecycle through RAII handles; every `?` drops what was built.
    fn lifecycle(sim: &SimBackend, b: &Arc<dyn Backend>) -> crate::backend::Result<()> {
        let dev = Device::external(b, sim.add_device(PSID));
        let ioas = Ioas::new(b)?;
        ioas.map(RAM, RAM_LEN, 0)?;
        let info = dev.hw_info_typed()?;
        assert!(info.tegra241().is_some());
        let parent = NestParent::new(&dev, &ioas)?;
        let v = Viommu::new(&dev, &parent, 0)?;
        let page = v.map_page()?;
        let evq = v.alloc_veventq(4)?;
        let vd = v.alloc_vdevice(&dev, 0x42)?;
        let nested = v.alloc_nested_ste(&dev, [1 | (0b100 << 1), 0])?;
        let q0 = v.alloc_hw_queue(None, RAM + 0x1_0000, 4096)?;
        let q1 = v.alloc_hw_queue(Some(&q0), RAM + 0x2_0000, 4096)?;
        page.write32(regs::lvcmdq(1, regs::CONFIG), regs::CONFIG_EN);
        sim.kick(v.id())?;
        v.invalidate(&cmd_bytes(tlbi_asid(1)))?;
        evq.read()?;
        drop((q1, q0, nested, vd, evq, page));
        ioas.unmap(RAM, RAM_LEN)?;
        Ok(())
    }

    #[test]
    fn every_failure_path_leaks_nothing() {
        let sim = SimBackend::new(SimConfig::tegra241(), ram());
        let b: Arc<dyn Backend> = Arc::new(sim.clone());
        lifecycle(&sim, &b).unwrap();
        assert_eq!(
            sim.live_objects(),
            1,
            "only the externally bound device remains"
        );
        // Fail the n-th call of each allocating kind in turn (destroys are not
        // failed: a destroy the kernel refuses leaks by definition).
        let kinds = [
            Op::IoasAlloc,
            Op::IoasMap,
            Op::GetHwInfo,
            Op::HwptAlloc,
            Op::ViommuAlloc,
            Op::Mmap,
            Op::VeventqAlloc,
            Op::VdeviceAlloc,
            Op::HwQueueAlloc,
            Op::Kick,
            Op::HwptInvalidate,
            Op::VeventqRead,
            Op::IoasUnmap,
        ];
        let mut failures = 0;
        for op in kinds {
            for n in 1.. {
                let sim = SimBackend::new(SimConfig::tegra241(), ram());
                let b: Arc<dyn Backend> = Arc::new(sim.clone());
                sim.inject(Fault {
                    op: Some(op),
                    when: FaultWhen::Nth(n),
                    errno: libc::ENOMEM,
                });
                match lifecycle(&sim, &b) {
                    Ok(()) => break,
                    Err(e) => {
                        assert_eq!((e.op, e.errno), (op, libc::ENOMEM));
                        failures += 1;
                        assert_eq!(sim.live_mappings(), 0, "{op:?} #{n}: a mapping leaked");
                        assert_eq!(sim.live_objects(), 1, "{op:?} #{n}: objects leaked");
                    }
                }
            }
        }
        assert_eq!(
            failures, 15,
            "one failure per allocating call of the lifecycle"
        );
    }

    #[test]
    fn fault_injection_by_kind() {
        let r = rig();
        let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
        r.sim.inject(Fault {
            op: Some(Op::HwQueueAlloc),
            when: FaultWhen::Every,
            errno: libc::EAGAIN,
        });
        let before = r.sim.live_objects();
        assert_eq!(errno(v.alloc_hw_queue(None, RAM, 4096)), libc::EAGAIN);
        assert_eq!(errno(v.alloc_hw_queue(None, RAM, 4096)), libc::EAGAIN);
        assert_eq!(r.sim.live_objects(), before);
        assert!(v.alloc_veventq(1).is_ok(), "other calls unaffected");
        r.sim.clear_faults();
        assert!(v.alloc_hw_queue(None, RAM, 4096).is_ok());
    }
}
