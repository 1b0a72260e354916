//! vdev's `smmuv3` queue modules, built against the moved map.

#[path = "../../../../vdev/src/smmuv3/cmdq.rs"]
pub mod cmdq;
#[path = "../../../../vdev/src/smmuv3/eventq.rs"]
pub mod eventq;
