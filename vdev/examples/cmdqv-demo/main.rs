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

// Guest physical layout.
const RAM: u64 = 0x4000_0000;
const RAM_LEN: u64 = 64 << 20;
const SMMU_BASE: u64 = 0x0900_0000;
const CMDQV_BASE: u64 = 0x0910_0000;
const VSIDS: [u32; 2] = [0x10, 0x11];
const PSIDS: [u32; 2] = [0x100, 0x200];

struct Args {
    backend: String,
    vfio: Vec<String>,
    per_path: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        backend: "sim".into(),
        vfio: Vec::new(),
        per_path: 2048,
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
            "-h" | "--help" => {
                return Err("usage: cmdqv-demo [--backend sim|iommufd] [--vfio /dev/vfio/devices/vfioN]... [--commands N]".into())
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
    Ok(a)
}

fn run(args: &Args) -> Result<(), String> {
    let host = if args.backend == "sim" {
        host::sim_host()?
    } else {
        host::iommufd_host(&args.vfio)?
    };
    println!("== setup ({} backend)", args.backend);
    println!(
        "[vmm] guest RAM: vm-memory GuestMemoryMmap, {} MiB at {RAM:#x}, backing pages of {} KiB (so IDR1.CMDQS is capped to queues of one page)",
        RAM_LEN >> 20,
        host.backing >> 10
    );
    let (vm, bus) = vmm::setup(&host)?;
    let vmm::Vm {
        ioas,
        regions,
        irqs,
        events,
    } = vm;
    let mut g = Guest::new(bus, host.mem.clone());

    script::probe(&mut g);
    script::enable_smmu(&mut g);
    script::bring_up_vcmdqs(&mut g, &regions);
    let bulk = script::bulk_invalidations(&mut g, args.per_path)?;
    script::illegal_on_cmdq(&mut g, &irqs.gerror)?;
    script::illegal_on_vcmdq(&mut g, &irqs.cmdqv)?;
    if let Some(sim) = host.sim.as_ref() {
        script::device_fault(&mut g, sim, &irqs.eventq, &events)?;
    }
    script::vcmdq_init_error(&mut g, &regions);
    script::unplug_with_live_queues(&mut g, VSIDS[host.devices.len() - 1]);
    let counters = script::teardown(&mut g);
    drop(g);
    drop(ioas);

    let hw = host.sim.as_ref().map(|s| s.hw_invalidations().len());
    let alive = host
        .sim
        .as_ref()
        .map(|s| s.live_objects().saturating_sub(host.baseline));
    report::summary(&counters, &bulk, &irqs, hw, alive)
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
