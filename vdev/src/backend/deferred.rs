//! Destroys the kernel refused, kept for a retry instead of lost.
//!
//! A handle's `Drop` cannot return an error. When `IOMMU_DESTROY` fails there
//! (a HWPT a device is still attached to is `EBUSY`, an injected fault, a
//! transient error), dropping the id would leak the object for the VM's
//! lifetime with only a log line to show for it. The backends keep such ids
//! here; teardown ([`retry`]) tries them again once what held them is gone
//! and reports the ones that still fail.

use std::sync::Mutex;

use super::{Backend, Error, ObjId};

/// A kernel object whose destroy was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// The object id.
    pub id: ObjId,
    /// What it is (for the report): "vIOMMU", "nested HWPT", ...
    pub what: &'static str,
    /// The last refusal.
    pub error: Error,
}

/// The objects a backend could not destroy yet, oldest first.
#[derive(Debug, Default)]
pub struct DeferredDestroys(Mutex<Vec<Deferred>>);

impl DeferredDestroys {
    /// Keeps `d` for a later [`retry`].
    pub fn push(&self, d: Deferred) {
        self.lock().push(d);
    }

    /// How many are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Deferred>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Tries every destroy `b` kept, newest first (a child before the object it
/// holds), in passes until one makes no progress: at most as many passes as
/// there are objects. Returns the ones still refused, which stay kept.
pub fn retry(b: &dyn Backend) -> Vec<Deferred> {
    let Some(kept) = b.deferred_destroys() else {
        return Vec::new();
    };
    let mut left = std::mem::take(&mut *kept.lock());
    loop {
        let before = left.len();
        let mut still = Vec::with_capacity(before);
        for mut d in left.into_iter().rev() {
            match b.destroy(d.id) {
                Ok(()) => log::debug!("destroyed {} {} on retry", d.what, d.id),
                Err(e) => {
                    d.error = e;
                    still.push(d);
                }
            }
        }
        still.reverse();
        left = still;
        if left.is_empty() || left.len() == before {
            break;
        }
    }
    for d in &left {
        log::error!("{} {} is still not destroyed: {}", d.what, d.id, d.error);
    }
    kept.lock().extend(left.iter().cloned());
    left
}
