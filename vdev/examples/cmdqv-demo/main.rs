//! The vSMMUv3 + Tegra241 CMDQV device models driven by a guest script.
//!
//! `cargo run --release -p vdev --example cmdqv-demo` runs on the simulated
//! backend (a Grace host: SMMUv3 with the CMDQV). The "guest" only performs
//! physical memory accesses: loads and stores to its RAM, and MMIO loads and
//! stores through a `GuestBus`, which traps into the device's windows
//! (`MmioDevice` paths) or reaches the VINTF page directly once the VMM
//! installed it. The VMM's part (plugging devices, tearing down) calls the
//! device's methods.
//!
//! `--backend iommufd --vfio /dev/vfio/devices/vfioN [--vfio ...]` runs the
//! same script through `/dev/iommu` on a real host.
//!
//! `--lvcmdqs N` gives each vSMMU's VINTF N logical VCMDQs (a power of two
//! up to 128; default 2, QEMU's) and the script drives all of them;
//! `--vsmmus M` builds M vSMMUv3 instances (default 1), one per physical
//! SMMU of the host (the simulated host gets M SMMUs with two devices each;
//! on a real host the k-th `--vfio` device goes to vSMMU k), and every
//! further vSMMU brings its queues up and runs the bulk invalidations too.
//!
//! One story per module: [`host`] (what the backend provides: simulated,
//! or `real_host` on Linux), [`vmm`] (the VMM builds the device and plugs
//! the devices), [`guest`] (the guest's memory accesses and queues),
//! [`script`] (the guest script, phase by phase), [`report`] (the trace
//! and the summary). This file is the table of contents.

mod guest;
mod host;
#[cfg(target_os = "linux")]
mod real_host;
mod report;
mod script;
mod vmm;

use std::process::ExitCode;

use guest::Guest;

// Guest physical layout (vSMMU k's windows `k * UNIT_STRIDE` higher).
const RAM: u64 = 0x4000_0000;
const SMMU_BASE: u64 = 0x0900_0000;
const CMDQV_BASE: u64 = 0x0910_0000;
const UNIT_STRIDE: u64 = 0x20_0000;
const VSIDS: [u32; 2] = [0x10, 0x11];
const PSIDS: [u32; 2] = [0x100, 0x200];
/// The most vSMMUs the demo builds (their windows must fit below the RAM).
const MAX_VSMMUS: usize = 8;

/// Bytes of guest RAM for `vsmmus` vSMMUs with `lvcmdqs` VCMDQs each (see
/// [`guest::Layout`]); at least 64 MiB.
pub fn ram_len(lvcmdqs: usize, vsmmus: usize) -> u64 {
    (guest::Layout::span(lvcmdqs) * vsmmus as u64).max(64 << 20)
}

pub struct Args {
    backend: String,
    vfio: Vec<String>,
    per_path: u32,
    /// Logical VCMDQs per vSMMU.
    pub lvcmdqs: usize,
    /// vSMMUv3 instances.
    pub vsmmus: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        backend: "sim".into(),
        vfio: Vec::new(),
        per_path: 2048,
        lvcmdqs: vdev::cmdqv::lifecycle::NUM_LVCMDQS,
        vsmmus: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--backend" => a.backend = it.next().ok_or("--backend needs sim or iommufd")?,
            "--vfio" => a.vfio.push(it.next().ok_or("--vfio needs a cdev path")?),
            "--commands" => {
                a.per_path = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--commands needs a number")?
            }
            "--lvcmdqs" => {
                a.lvcmdqs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n: &usize| {
                        n.is_power_of_two() && *n <= vdev::cmdqv::lifecycle::MAX_LVCMDQS
                    })
                    .ok_or("--lvcmdqs needs a power of two from 1 to 128")?
            }
            "--vsmmus" => {
                a.vsmmus = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=MAX_VSMMUS).contains(n))
                    .ok_or("--vsmmus needs a number from 1 to 8")?
            }
            "-h" | "--help" => {
                return Err("usage: cmdqv-demo [--backend sim|iommufd] [--vfio /dev/vfio/devices/vfioN]... [--commands N] [--lvcmdqs N] [--vsmmus M]".into())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.backend != "sim" && a.backend != "iommufd" {
        return Err(format!("unknown backend {:?} (sim or iommufd)", a.backend));
    }
    if a.backend == "iommufd" && a.vfio.is_empty() {
        return Err("--backend iommufd needs --vfio /dev/vfio/devices/vfioN".into());
    }
    if a.backend == "iommufd" && a.vfio.len() < a.vsmmus {
        return Err(format!(
            "--vsmmus {} on a real host needs a --vfio device per vSMMU, in the order of their SMMUs",
            a.vsmmus
        ));
    }
    Ok(a)
}

fn run(args: &Args) -> Result<(), String> {
    let host = if args.backend == "sim" {
        host::sim_host(args)?
    } else {
        host::iommufd_host(args)?
    };
    println!("== setup ({} backend)", args.backend);
    println!(
        "[vmm] guest RAM: vm-memory GuestMemoryMmap, {} MiB at {RAM:#x}, backing pages of {} KiB (so IDR1.CMDQS is capped to queues of one page)",
        ram_len(args.lvcmdqs, args.vsmmus) >> 20,
        host.backing >> 10
    );
    let (vm, bus) = vmm::setup(&host, args)?;
    let vmm::Vm {
        ioas,
        regions,
        irqs,
        events,
    } = vm;
    let mut g = Guest::new(bus, host.mem.clone(), args.lvcmdqs);

    // vSMMU 0: the whole story.
    let irq = &irqs[0];
    script::probe(&mut g);
    script::enable_smmu(&mut g);
    script::bring_up_vcmdqs(&mut g, &regions);
    let mut bulk = vec![script::bulk_invalidations(&mut g, args.per_path)?];
    script::illegal_on_cmdq(&mut g, &irq.gerror)?;
    script::illegal_on_vcmdq(&mut g, &irq.cmdqv)?;
    if let Some(sim) = host.sim.as_ref() {
        script::device_fault(&mut g, sim, &irq.eventq, &events)?;
    }
    script::vcmdq_init_error(&mut g, &regions);
    script::unplug_with_live_queues(&mut g, VSIDS[host.units[0].len() - 1]);
    // Every further vSMMU: its own queues, side by side with vSMMU 0's.
    for k in 1..args.vsmmus {
        g.select(k);
        script::probe(&mut g);
        script::enable_smmu(&mut g);
        script::bring_up_vcmdqs(&mut g, &regions);
        bulk.push(script::bulk_invalidations(&mut g, args.per_path)?);
    }
    let counters: Vec<_> = (0..args.vsmmus)
        .map(|k| {
            g.select(k);
            script::teardown(&mut g)
        })
        .collect();
    drop(g);
    drop(ioas);

    let hw = host.sim.as_ref().map(|s| s.hw_invalidation_counts());
    let alive = host
        .sim
        .as_ref()
        .map(|s| s.live_objects().saturating_sub(host.baseline));
    report::summary(&counters, &bulk, &irqs, hw.as_ref(), alive)
}

fn main() -> ExitCode {
    // vdev reports through the `log` facade (what a Drop could not return,
    // a vEVENTQ it could not allocate, and at debug level every kernel
    // object it destroys); `RUST_LOG=vdev=debug` shows them all.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cmdqv-demo: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cmdqv-demo: error: {e}");
            ExitCode::FAILURE
        }
    }
}
