//! A SQL warehouse's statement slots, shared by every run on it in this
//! process.
//!
//! One run bounds its own statements (`execute::Limits::warehouse`). Two
//! runs of different pairs are different warehouses, usually: each keeps
//! its own budget and neither waits for the other. Two pairs that name the
//! same warehouse (one hub's warehouse serving two spokes) share it, so
//! together they keep no more statements submitted than one run would. A
//! slot is keyed by the workspace and the warehouse id, not by the pair.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Semaphore;

/// The slots of every warehouse runs use, created on first use.
pub struct WarehouseSlots {
    per_warehouse: usize,
    warehouses: Mutex<HashMap<(String, String), Arc<Semaphore>>>,
}

impl WarehouseSlots {
    /// `per_warehouse` statements at once on any one warehouse.
    pub fn new(per_warehouse: usize) -> WarehouseSlots {
        WarehouseSlots { per_warehouse: per_warehouse.max(1), warehouses: Mutex::new(HashMap::new()) }
    }

    /// The slots of warehouse `warehouse_id` in the workspace at `workspace_url`.
    pub fn of(&self, workspace_url: &str, warehouse_id: &str) -> Arc<Semaphore> {
        let key = (workspace_url.trim_end_matches('/').to_ascii_lowercase(), warehouse_id.to_string());
        self.warehouses.lock().entry(key).or_insert_with(|| Arc::new(Semaphore::new(self.per_warehouse))).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warehouse_has_one_budget_and_two_warehouses_two() {
        let slots = WarehouseSlots::new(2);
        let a = slots.of("https://adb-1.example/", "w1");
        assert!(Arc::ptr_eq(&a, &slots.of("https://ADB-1.example", "w1")), "the same warehouse, however written");
        let b = slots.of("https://adb-2.example", "w1");
        assert!(!Arc::ptr_eq(&a, &b), "another workspace's warehouse of the same id is another warehouse");
        let _held = (a.clone().try_acquire_owned().unwrap(), a.clone().try_acquire_owned().unwrap());
        assert!(a.clone().try_acquire_owned().is_err(), "its budget is spent");
        assert!(b.try_acquire_owned().is_ok(), "the other's is not");
    }
}
