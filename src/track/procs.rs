//! Tracked processes, the pure part: which processes match a spec (keepalived 2.2.7's
//! `vrrp_track_process` rules), how many match each spec, and when a count within the quorum
//! means "up" after the delays. The watcher (`proc_watch.rs`) only reads `/proc` and the
//! process connector and feeds what it read in here; `now` is always an argument.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::config::ProcessConfig;

/// The most bytes of a process name the kernel keeps in `comm` (`TASK_COMM_LEN` - 1).
pub const COMM_MAX: usize = 15;

/// How a process's parameters (argv[1..]) are compared with the configured `args`
/// (keepalived `param_match`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamMatch {
    /// Exactly these parameters, no more (with no `args`: no parameters at all).
    Exact,
    /// The first parameters are exactly these; more may follow.
    Partial,
    /// As `Partial`, but the last configured parameter need only begin the process's one.
    Initial,
}

impl ParamMatch {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamMatch::Exact => "exact",
            ParamMatch::Partial => "partial",
            ParamMatch::Initial => "initial",
        }
    }
}

/// What a tracked process spec matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessMatch {
    /// Compared exactly (no pattern) with the process name (`/proc/PID/comm`), or with argv[0]
    /// when `full_command`.
    pub name: String,
    /// Match argv[0] (`/proc/PID/cmdline`) instead of comm; implied by `args`/`param_match`.
    pub full_command: bool,
    /// Parameters to compare, and how; None: parameters are not looked at.
    pub params: Option<(Vec<String>, ParamMatch)>,
}

impl ProcessMatch {
    /// Matching by process name only (`comm`), keepalived's default.
    pub fn name(name: &str) -> ProcessMatch {
        ProcessMatch {
            name: name.to_owned(),
            full_command: false,
            params: None,
        }
    }

    /// Does this spec need `/proc/PID/cmdline`?
    pub fn needs_cmdline(&self) -> bool {
        self.full_command || self.params.is_some()
    }

    /// Does the process match? Zombies never do (they are not running).
    pub fn matches(&self, p: &ProcInfo) -> bool {
        if p.zombie {
            return false;
        }
        if !self.needs_cmdline() {
            return p.comm == self.name;
        }
        let Some((argv0, rest)) = p.cmdline.split_first() else {
            // Kernel threads and zombies have no command line.
            return false;
        };
        if *argv0 != self.name {
            return false;
        }
        match &self.params {
            None => true,
            Some((want, how)) => params_match(want, *how, rest),
        }
    }
}

/// keepalived's `check_params`: the configured parameters against argv[1..].
fn params_match(want: &[String], how: ParamMatch, have: &[String]) -> bool {
    match how {
        ParamMatch::Exact => want == have,
        ParamMatch::Partial => have.len() >= want.len() && have[..want.len()] == *want,
        ParamMatch::Initial => {
            let Some((last, first)) = want.split_last() else {
                return true;
            };
            have.len() >= want.len()
                && have[..first.len()] == *first
                && have[first.len()].starts_with(last.as_str())
        }
    }
}

/// What was read about one process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// `/proc/PID/comm` (at most 15 bytes).
    pub comm: String,
    /// `/proc/PID/cmdline` split at NULs (empty when not read or a kernel thread).
    pub cmdline: Vec<String>,
    /// State Z in `/proc/PID/stat`.
    pub zombie: bool,
}

/// Parses `/proc/PID/stat`: the name between the first `(` and the last `)` (a name may hold
/// parentheses itself) and whether the state after it is Z (zombie).
pub fn parse_stat(stat: &str) -> Option<ProcInfo> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = stat[open + 1..close].to_owned();
    let state = stat[close + 1..].trim_start().chars().next()?;
    Some(ProcInfo {
        comm,
        cmdline: Vec::new(),
        zombie: state == 'Z',
    })
}

/// Splits `/proc/PID/cmdline` (arguments each ended by a NUL) into argv.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The processes that match at least one spec, by pid, and the count per spec.
#[derive(Clone, Debug, Default)]
pub struct ProcessTable {
    /// (name, spec), in the configuration's order.
    specs: Vec<(String, ProcessMatch)>,
    /// pid -> the indexes of the specs it matches (never empty).
    pids: HashMap<u32, Vec<usize>>,
}

impl ProcessTable {
    pub fn new<'a>(specs: impl IntoIterator<Item = (&'a String, &'a ProcessMatch)>) -> Self {
        ProcessTable {
            specs: specs
                .into_iter()
                .map(|(n, m)| (n.clone(), m.clone()))
                .collect(),
            pids: HashMap::new(),
        }
    }

    /// Does any spec need the command line (read `/proc/PID/cmdline` then)?
    pub fn needs_cmdline(&self) -> bool {
        self.specs.iter().any(|(_, m)| m.needs_cmdline())
    }

    /// What is known about `pid` now: `None` when it exited (or cannot be read any more).
    pub fn update(&mut self, pid: u32, info: Option<&ProcInfo>) {
        let matched: Vec<usize> = match info {
            None => Vec::new(),
            Some(p) => self
                .specs
                .iter()
                .enumerate()
                .filter(|(_, (_, m))| m.matches(p))
                .map(|(i, _)| i)
                .collect(),
        };
        if matched.is_empty() {
            self.pids.remove(&pid);
        } else {
            self.pids.insert(pid, matched);
        }
    }

    /// A full scan: every process there is now (what is not listed is gone).
    pub fn replace_all(&mut self, procs: impl IntoIterator<Item = (u32, ProcInfo)>) {
        self.pids.clear();
        for (pid, p) in procs {
            self.update(pid, Some(&p));
        }
    }

    /// The number of matching processes, per spec name (every spec listed, 0 included).
    pub fn counts(&self) -> BTreeMap<String, u32> {
        let mut n = vec![0u32; self.specs.len()];
        for idx in self.pids.values() {
            for &i in idx {
                n[i] += 1;
            }
        }
        self.specs
            .iter()
            .zip(n)
            .map(|((name, _), c)| (name.clone(), c))
            .collect()
    }
}

/// Whether a tracked process is up: the count within `quorum..=quorum_max`, held for
/// `fork_delay` before it counts as up and `terminate_delay` before it counts as down
/// (a reload of the process within the delay moves nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum {
    quorum: u32,
    quorum_max: u32,
    fork_delay: Duration,
    terminate_delay: Duration,
    up: bool,
    /// The state the count asks for and when it takes effect.
    pending: Option<(bool, Instant)>,
    /// The last count seen.
    count: u32,
}

impl Quorum {
    /// The first count decides at once (keepalived reads `/proc` at start-up without delay).
    pub fn new(cfg: &ProcessConfig, count: u32) -> Quorum {
        let mut q = Quorum {
            quorum: cfg.quorum,
            quorum_max: cfg.quorum_max,
            fork_delay: cfg.fork_delay,
            terminate_delay: cfg.terminate_delay,
            up: false,
            pending: None,
            count,
        };
        q.up = q.within(count);
        q
    }

    fn within(&self, count: u32) -> bool {
        count >= self.quorum && count <= self.quorum_max
    }

    pub fn up(&self) -> bool {
        self.up
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// When a pending change takes effect (call [`Quorum::on_timeout`] then).
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.map(|(_, at)| at)
    }

    /// A new count; Some(up) when the state changes now.
    pub fn observe(&mut self, now: Instant, count: u32) -> Option<bool> {
        self.count = count;
        let want = self.within(count);
        if want == self.up {
            self.pending = None;
            return None;
        }
        let delay = if want {
            self.fork_delay
        } else {
            self.terminate_delay
        };
        if delay.is_zero() {
            self.pending = None;
            self.up = want;
            return Some(want);
        }
        if self.pending.is_none() {
            self.pending = Some((want, now + delay));
        }
        self.on_timeout(now)
    }

    /// Time passed; Some(up) when a pending change takes effect now.
    pub fn on_timeout(&mut self, now: Instant) -> Option<bool> {
        match self.pending {
            Some((want, at)) if now >= at => {
                self.pending = None;
                self.up = want;
                Some(want)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(comm: &str, argv: &[&str]) -> ProcInfo {
        ProcInfo {
            comm: comm.into(),
            cmdline: argv.iter().map(|s| s.to_string()).collect(),
            zombie: false,
        }
    }

    fn with_params(name: &str, params: &[&str], how: ParamMatch) -> ProcessMatch {
        ProcessMatch {
            name: name.into(),
            full_command: true,
            params: Some((params.iter().map(|s| s.to_string()).collect(), how)),
        }
    }

    #[test]
    fn name_is_an_exact_comm_match_like_keepalived_not_a_pattern() {
        let m = ProcessMatch::name("ssh");
        assert!(m.matches(&info("ssh", &["ssh", "host"])));
        // pgrep ssh would match sshd; track_process does not.
        assert!(!m.matches(&info("sshd", &["/usr/sbin/sshd", "-D"])));
        assert!(!m.matches(&info("SSH", &[])));
        // Only comm counts: argv[0] may say anything (nginx rewrites its own).
        let nginx = ProcessMatch::name("nginx");
        assert!(nginx.matches(&info("nginx", &["nginx: master process /usr/sbin/nginx"])));
        assert!(nginx.matches(&info("nginx", &[])));
    }

    #[test]
    fn zombies_never_match() {
        let mut p = info("nginx", &[]);
        p.zombie = true;
        assert!(!ProcessMatch::name("nginx").matches(&p));
    }

    #[test]
    fn full_command_matches_argv0_exactly() {
        let m = ProcessMatch {
            name: "/usr/sbin/haproxy".into(),
            full_command: true,
            params: None,
        };
        assert!(m.matches(&info("haproxy", &["/usr/sbin/haproxy", "-f", "/etc/h.cfg"])));
        assert!(!m.matches(&info("haproxy", &["haproxy", "-f"])));
        // A kernel thread has no command line.
        assert!(!m.matches(&info("haproxy", &[])));
    }

    #[test]
    fn parameters_exact_partial_initial() {
        let p = info("x", &["/bin/x", "-c", "/etc/x.conf", "-v"]);
        assert!(!with_params("/bin/x", &["-c", "/etc/x.conf"], ParamMatch::Exact).matches(&p));
        assert!(with_params("/bin/x", &["-c", "/etc/x.conf", "-v"], ParamMatch::Exact).matches(&p));
        assert!(with_params("/bin/x", &["-c", "/etc/x.conf"], ParamMatch::Partial).matches(&p));
        assert!(!with_params("/bin/x", &["-c", "/etc/x"], ParamMatch::Partial).matches(&p));
        assert!(with_params("/bin/x", &["-c", "/etc/x"], ParamMatch::Initial).matches(&p));
        assert!(!with_params("/bin/x", &["-d", "/etc/x"], ParamMatch::Initial).matches(&p));
        // `param_match` without parameters: the command must have none.
        assert!(!with_params("/bin/x", &[], ParamMatch::Exact).matches(&p));
        assert!(with_params("/bin/x", &[], ParamMatch::Exact).matches(&info("x", &["/bin/x"])));
        assert!(with_params("/bin/x", &[], ParamMatch::Partial).matches(&p));
        // Fewer parameters than configured never match.
        assert!(
            !with_params("/bin/x", &["-c", "a", "b", "c", "d"], ParamMatch::Initial).matches(&p)
        );
    }

    #[test]
    fn stat_and_cmdline_parsing() {
        let s = parse_stat("1234 (nginx) S 1 1234 1234 0 -1 4194560 ...").unwrap();
        assert_eq!(s.comm, "nginx");
        assert!(!s.zombie);
        // A name with parentheses and spaces.
        let s = parse_stat("77 (a) b (c)) Z 1 77").unwrap();
        assert_eq!(s.comm, "a) b (c)");
        assert!(s.zombie);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 )x( S"), None);
        assert_eq!(
            parse_cmdline(b"/usr/sbin/nginx\0-g\0daemon off;\0"),
            vec!["/usr/sbin/nginx", "-g", "daemon off;"]
        );
        assert_eq!(parse_cmdline(b""), Vec::<String>::new());
        assert_eq!(
            parse_cmdline(b"nginx: master process\0"),
            vec!["nginx: master process"]
        );
    }

    #[test]
    fn table_counts_per_spec_and_forgets_exited_pids() {
        let specs: BTreeMap<String, ProcessMatch> = [
            ("web".to_string(), ProcessMatch::name("nginx")),
            ("web2".to_string(), ProcessMatch::name("nginx")),
            ("lb".to_string(), ProcessMatch::name("haproxy")),
        ]
        .into();
        let mut t = ProcessTable::new(&specs);
        assert!(!t.needs_cmdline());
        t.replace_all([
            (10, info("nginx", &[])),
            (11, info("nginx", &[])),
            (12, info("bash", &[])),
        ]);
        let c = t.counts();
        assert_eq!((c["web"], c["web2"], c["lb"]), (2, 2, 0));
        t.update(20, Some(&info("haproxy", &[])));
        t.update(10, None);
        // A pid that execs something else stops counting.
        t.update(11, Some(&info("sleep", &[])));
        let c = t.counts();
        assert_eq!((c["web"], c["lb"]), (0, 1));
        // A full scan replaces everything.
        t.replace_all([(30, info("nginx", &[]))]);
        let c = t.counts();
        assert_eq!((c["web"], c["lb"]), (1, 0));
    }

    fn cfg(quorum: u32, quorum_max: u32, fork: u64, term: u64) -> ProcessConfig {
        ProcessConfig {
            matcher: ProcessMatch::name("nginx"),
            quorum,
            quorum_max,
            weight: 0,
            fork_delay: Duration::from_millis(fork),
            terminate_delay: Duration::from_millis(term),
            reverse: false,
        }
    }

    #[test]
    fn quorum_without_delay_follows_the_count() {
        let t0 = Instant::now();
        let mut q = Quorum::new(&cfg(2, u32::MAX, 0, 0), 1);
        assert!(!q.up());
        assert_eq!(q.observe(t0, 2), Some(true));
        assert_eq!(q.observe(t0, 3), None);
        assert_eq!(q.observe(t0, 1), Some(false));
        assert_eq!(q.deadline(), None);
    }

    #[test]
    fn quorum_max_too_many_is_down_and_zero_means_must_not_run() {
        let t0 = Instant::now();
        let mut q = Quorum::new(&cfg(1, 1, 0, 0), 1);
        assert!(q.up());
        assert_eq!(q.observe(t0, 2), Some(false));
        let mut none = Quorum::new(&cfg(0, 0, 0, 0), 0);
        assert!(none.up());
        assert_eq!(none.observe(t0, 1), Some(false));
    }

    #[test]
    fn terminate_delay_rides_out_a_restart_and_fork_delay_waits_before_up() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = Quorum::new(&cfg(1, u32::MAX, 300, 500), 1);
        assert!(q.up());
        // nginx restarts within the terminate delay: nothing moves.
        assert_eq!(q.observe(t0, 0), None);
        assert_eq!(q.deadline(), Some(t0 + ms(500)));
        assert_eq!(q.observe(t0 + ms(200), 1), None);
        assert_eq!(q.deadline(), None);
        assert_eq!(q.on_timeout(t0 + ms(600)), None);
        assert!(q.up());
        // Gone for longer: down when the delay expires, not before.
        assert_eq!(q.observe(t0 + ms(1000), 0), None);
        assert_eq!(q.on_timeout(t0 + ms(1499)), None);
        assert_eq!(q.on_timeout(t0 + ms(1500)), Some(false));
        // Back: up only after the fork delay; a second count change does not re-arm it.
        assert_eq!(q.observe(t0 + ms(2000), 1), None);
        assert_eq!(q.observe(t0 + ms(2100), 2), None);
        assert_eq!(q.deadline(), Some(t0 + ms(2300)));
        assert_eq!(q.on_timeout(t0 + ms(2300)), Some(true));
        assert_eq!(q.count(), 2);
    }
}
