//! What moves with the master beside the advertised addresses on the instance's interface:
//! addresses on other devices (`dev`), `virtual_ipaddress_excluded`, `virtual_routes` and
//! `virtual_rules`; and what is installed whatever the state (`static_*`). The decisions of
//! what to install and remove, and in which order; the shell only executes
//! [`Effect::Install`](super::Effect::Install) / [`Effect::Uninstall`](super::Effect::Uninstall).
//!
//! Order: addresses before the routes (a route's `src` or gateway may need them), routes
//! before the rules that point at their tables; removal in the reverse order.

use crate::config::{InstanceConfig, Route, Rule, Statics, Vip};

/// One thing installed in the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    /// An address on the named device (`vip.dev`, or the instance's interface).
    Address {
        dev: String,
        vip: Vip,
    },
    Route(Route),
    Rule(Rule),
}

impl Item {
    /// For logs: `address 10.0.0.1/24 on eth1`, `route 10.1.0.0/16`, `rule table 100`.
    pub fn describe(&self) -> String {
        match self {
            Item::Address { dev, vip } => {
                format!("address {}/{} on {dev}", vip.addr, vip.prefix_len)
            }
            Item::Route(r) => format!(
                "route {}/{} table {}",
                r.to.0,
                r.to.1,
                r.table.unwrap_or(254)
            ),
            Item::Rule(r) => format!("rule to table {}", r.table),
        }
    }
}

/// Whether a virtual address lives on the instance's interface (it is added with the
/// instance's interface index and read back there).
pub fn on_instance_iface(cfg: &InstanceConfig, v: &Vip) -> bool {
    v.dev.as_ref().is_none_or(|d| *d == cfg.interface)
}

/// The advertised addresses that live on the instance's interface.
pub fn own_iface_vips(cfg: &InstanceConfig) -> Vec<Vip> {
    cfg.virtual_ipaddress
        .iter()
        .filter(|v| on_instance_iface(cfg, v))
        .cloned()
        .collect()
}

fn address(default_dev: &str, v: &Vip) -> Item {
    Item::Address {
        dev: v.dev.clone().unwrap_or_else(|| default_dev.to_owned()),
        vip: v.clone(),
    }
}

/// What a master installs besides [`own_iface_vips`], in the order to add it: advertised
/// addresses on other devices, excluded addresses, routes, rules.
pub fn master_items(cfg: &InstanceConfig) -> Vec<Item> {
    let other_dev = cfg
        .virtual_ipaddress
        .iter()
        .filter(|v| !on_instance_iface(cfg, v));
    other_dev
        .chain(&cfg.virtual_ipaddress_excluded)
        .map(|v| address(&cfg.interface, v))
        .chain(cfg.virtual_routes.iter().cloned().map(Item::Route))
        .chain(cfg.virtual_rules.iter().cloned().map(Item::Rule))
        .collect()
}

/// The excluded addresses on the instance's interface: announced (gratuitous ARP /
/// unsolicited NA) with the advertised ones.
pub fn excluded_on_iface(cfg: &InstanceConfig) -> impl Iterator<Item = &Vip> {
    cfg.virtual_ipaddress_excluded
        .iter()
        .filter(|v| on_instance_iface(cfg, v))
}

/// The static addresses, routes and rules in the order to add them.
pub fn static_items(s: &Statics) -> Vec<Item> {
    s.addresses
        .iter()
        .map(|v| address("", v))
        .chain(s.routes.iter().cloned().map(Item::Route))
        .chain(s.rules.iter().cloned().map(Item::Rule))
        .collect()
}

/// Items in the order to remove them (the reverse of adding).
pub fn removal_order(mut items: Vec<Item>) -> Vec<Item> {
    items.reverse();
    items
}

/// A reload of the static items: (remove, add). What is in both stays untouched.
pub fn static_diff(old: &Statics, new: &Statics) -> (Vec<Item>, Vec<Item>) {
    let (o, n) = (static_items(old), static_items(new));
    let remove = o.iter().filter(|x| !n.contains(x)).cloned().collect();
    let add = n.into_iter().filter(|x| !o.contains(x)).collect();
    (removal_order(remove), add)
}
