//! What the router core asks the shell to do ([`Effect`]), and what it tells the observer
//! ([`Fact`]), in one ordered queue.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use crate::config::{Family, Notify, Vip};
use crate::engine::{Cause, State};
use crate::net::IfaceInfo;
use crate::packet::vrrp::{ChecksumForm, DropReason};

/// An instance slot (stable while the instance lives; reused after it is removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstId(pub usize);

/// A receive port: one raw socket per (interface, family), shared by the instances on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub usize);

/// One thing to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Ask the kernel about an interface; answer with `Router::handle_iface`. `exclude`: the
    /// virtual addresses on it, never taken as its primary address.
    Lookup {
        ifname: String,
        exclude: Vec<IpAddr>,
    },
    /// Open the VRRP socket (and the wire tap) of a port; on failure call
    /// `Router::handle_port_failed`.
    OpenPort {
        port: PortId,
        iface: IfaceInfo,
        family: Family,
    },
    /// Close a port's sockets.
    ClosePort { port: PortId },
    /// Let only these VRIDs through the port's kernel filter.
    SetVridFilter { port: PortId, vrids: Vec<u8> },
    /// IPv6 ports: be a member of the solicited-node multicast groups of these virtual
    /// addresses, each on the interface (index) that holds it, and of no other group joined
    /// this way, on backup too. That is the port's interface, the macvlan with `use_vmac`
    /// (also with `vmac_xmit_base`, where the port is on the base interface), and another
    /// device for an address with `dev`. The kernel joins a new address's group from a work
    /// queue, some time after the address is added; a new master whose address is up but whose
    /// group is not yet joined drops the neighbour solicitations for it while the old master
    /// has already let go.
    JoinSolicited {
        port: PortId,
        /// (interface index, address), sorted.
        addrs: Vec<(u32, Ipv6Addr)>,
    },
    /// Send an advert (already encoded) on a port. Count it as sent (or as a send error).
    Send {
        port: PortId,
        inst: InstId,
        src: IpAddr,
        dst: IpAddr,
        priority: u8,
        /// Shared with the instance's advert cache (no copy per send).
        bytes: std::sync::Arc<[u8]>,
    },
    /// Add the instance's virtual addresses, then read the interface's addresses back.
    AddAddresses {
        inst: InstId,
        ifindex: u32,
        vips: Vec<Vip>,
    },
    /// Remove them, then read back.
    RemoveAddresses {
        inst: InstId,
        ifindex: u32,
        vips: Vec<Vip>,
    },
    /// Install these addresses (on their named devices), routes and rules, in order
    /// (`inst`: None for the `static_*` ones). Failures are logged, never retried here.
    Install {
        inst: Option<InstId>,
        items: Vec<super::extras::Item>,
    },
    /// Remove them, in order; what is already gone is fine.
    Uninstall {
        inst: Option<InstId>,
        items: Vec<super::extras::Item>,
    },
    /// `count` gratuitous ARPs / unsolicited NAs per address; `router`: NAs carry the Router
    /// flag (the interface forwards IPv6, RFC 9568 6.4.1); `interval`: the least time between
    /// two announcements on the interface (`garp.interval`, see [`super::pace`]).
    Announce {
        inst: InstId,
        iface: IfaceInfo,
        addrs: Vec<IpAddr>,
        count: u32,
        router: bool,
        interval: Duration,
    },
    /// Run the instance's notify hooks for its new state.
    Notify {
        inst: InstId,
        name: String,
        state: State,
        priority: u8,
        vrid: u8,
        interface: String,
        hooks: Notify,
    },
    /// Run a sync group's notify hooks for its new state (`GROUP <name> <STATE> 0`).
    NotifyGroup {
        group: String,
        state: State,
        hooks: Notify,
    },
    /// Read an interface's addresses and report which virtual addresses are present.
    ReadBack {
        ifindex: u32,
        insts: Vec<(InstId, Vec<IpAddr>)>,
    },
    /// Stop these check scripts, then start these (reload; the others keep running).
    Scripts {
        stop: Vec<String>,
        start: Vec<String>,
    },
    /// Watch this set of tracked files (reload changed it).
    TrackFiles,
    /// Watch the configuration's tracked processes again (reload changed `processes`).
    TrackProcesses,
    /// Once every address change and announcement queued before this one is done, call
    /// `Router::handle_announced` (the new master's first advert waits for it; the shell
    /// never waits, it only passes the answer back).
    Barrier { inst: InstId },
    /// Create the instance's macvlan (`use_vmac`), replacing a leftover of the same name,
    /// bring it up, then look it up: the answer is `Router::handle_iface` for its name.
    EnsureVmac { inst: InstId, vmac: VmacSpec },
    /// Delete the instance's macvlan (its addresses go with it).
    DeleteVmac { inst: InstId, vmac: VmacSpec },
    /// Something to observe (metrics, logs, traces).
    Fact(Fact),
}

impl Effect {
    /// Whether the shell must put the adverts queued before this effect on the wire before it
    /// carries this one out. Everything that touches the kernel, the sockets or the set of
    /// instances does (a handover's priority-0 advert goes before its addresses leave; an
    /// advert is counted on its instance before that instance's series go). Observations do
    /// not: a round of timers queues `TimerLate` between its adverts, and the whole round
    /// still leaves in one `sendmmsg` per port.
    pub fn waits_for_sends(&self) -> bool {
        match self {
            Effect::Send { .. } => false,
            Effect::Fact(Fact::InstanceAdded { .. } | Fact::InstanceRemoved { .. }) => true,
            Effect::Fact(_) => false,
            _ => true,
        }
    }
}

/// An instance's macvlan with the virtual router MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmacSpec {
    /// The macvlan's name.
    pub name: String,
    /// The interface it sits on.
    pub base: String,
    pub base_index: u32,
    /// 00:00:5e:00:01:{VRID} (IPv4) or 00:00:5e:00:02:{VRID} (IPv6).
    pub mac: [u8; 6],
    pub family: Family,
    /// IPv6: the base interface's link-local address, added to the macvlan so adverts sent
    /// from it have a link-local source of the sending interface (keepalived does the same).
    pub source: Option<Ipv6Addr>,
}

/// Something that happened, for metrics, logs and traces. Every counter vipd exports is
/// bumped from exactly one of these.
#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    /// An instance was created (its series appear now, counters at 0).
    InstanceAdded { inst: InstId },
    /// An instance is gone (its series go).
    InstanceRemoved { inst: InstId, name: String },
    /// A state change, with its cause.
    Transition {
        inst: InstId,
        from: State,
        to: State,
        cause: Cause,
        priority: u8,
    },
    /// The effective priority changed (tracking, reload).
    Priority { inst: InstId, from: u8, to: u8 },
    /// An advert was accepted and fed to the state machine.
    Received {
        inst: InstId,
        peer: IpAddr,
        priority: u8,
        form: ChecksumForm,
        /// The peer was not known before.
        new_peer: bool,
        /// A peer forgotten to stay within the bound.
        evicted: Option<IpAddr>,
        /// It changed its checksum form.
        form_changed: bool,
        /// It became the master we follow.
        became_master: bool,
        /// The peer's series are due a refresh ([`crate::router::peers::Recorded::report`]).
        report: bool,
    },
    /// A packet was dropped; `inst` when its VRID routed it to one.
    Dropped {
        inst: Option<InstId>,
        port: PortId,
        src: IpAddr,
        reason: DropReason,
    },
    /// A router of our VRID disagrees with our configuration (its adverts are dropped, but
    /// it still counts as a master we can see).
    PeerDisagrees {
        inst: InstId,
        peer: IpAddr,
        priority: u8,
        form: ChecksumForm,
        reason: DropReason,
        new_peer: bool,
        evicted: Option<IpAddr>,
    },
    /// An accepted advert's address list differs from ours; `theirs` the first time for
    /// this peer (to log it once).
    AddressListMismatch {
        inst: InstId,
        peer: IpAddr,
        theirs: Option<Vec<IpAddr>>,
    },
    /// An accepted IPv6 advert whose first address is not link-local.
    FirstAddressNotLinkLocal { inst: InstId, peer: IpAddr },
    /// The wire tap saw a source for this instance (its filtered series exists at 0).
    FilteredSource { inst: InstId, peer: IpAddr },
    /// Adverts seen on the wire but never delivered: a local firewall eats them.
    Filtered {
        inst: InstId,
        peer: IpAddr,
        count: u64,
        /// The first filtered advert of this instance (warn once).
        first: bool,
    },
    /// A master's virtual address was removed by someone else and is put back.
    AddressRestored { inst: InstId, addr: IpAddr },
    /// A tracked interface's state, as folded.
    TrackInterface {
        inst: InstId,
        name: String,
        up: bool,
    },
    /// The instance's interface is up but has no source address of its family yet.
    NoSourceAddress { inst: InstId },
    /// The interface lookup failed.
    LookupFailed { ifname: String, error: String },
    /// The port's sockets could not be opened.
    PortFailed {
        port: PortId,
        ifname: String,
        error: String,
    },
    /// Only the first `advertised` of `total` addresses fit in an advert on this interface;
    /// the rest are added but not advertised.
    AddressesNotAdvertised {
        inst: InstId,
        advertised: usize,
        total: usize,
        mtu: u32,
    },
    /// A timer was handled this late after its deadline.
    TimerLate { late: Duration },
    /// An instance was drained or undrained; `by` says who asked (control socket peer).
    Drained {
        inst: InstId,
        drained: bool,
        by: String,
    },
    /// A resigning master still holds its addresses (make-before-break); `released` when
    /// they went, `taken_over` when a new master was heard first (else the bound passed).
    Hold {
        inst: InstId,
        name: String,
        released: bool,
        taken_over: bool,
    },
    /// A sync group changed state (`from` Init the first time).
    SyncGroup {
        group: String,
        from: State,
        to: State,
    },
    /// A reload removed a sync group (its series go).
    SyncGroupRemoved { group: String },
    /// The periodic refresh of derived gauges (every second).
    Gauges {
        inst: InstId,
        masters_observed: usize,
    },
}
