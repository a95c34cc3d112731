//! FRR (Debian's `frr` package: zebra + vrrpd) as a VRRP peer inside a lab host: its own
//! directory for configuration, pid files, the zserv socket and the vty sockets, so parallel
//! tests never share anything. FRR does not create the macvlan a virtual router needs; the
//! test does, as FRR's documentation asks of the operator.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use super::{Lab, sh, sh_ok, wait_for};

pub const ZEBRA: &str = "/usr/lib/frr/zebra";
pub const VRRPD: &str = "/usr/lib/frr/vrrpd";

/// zebra and vrrpd running in one lab host.
pub struct Frr {
    pub host: String,
    pub dir: PathBuf,
}

impl Frr {
    /// Creates FRR's macvlan for `vrid` on `host`'s eth0 for IPv4 (`vrrp4-2-<vrid>`,
    /// 00:00:5e:00:01:<vrid>) and, with `v6`, for IPv6 (`vrrp6-2-<vrid>`, 00:00:5e:00:02:<vrid>,
    /// a random link-local), in bridge mode with the given `addr/len` on each, then starts
    /// zebra and vrrpd with `vrrpd_conf`.
    pub fn start(
        lab: &mut Lab,
        host: &str,
        vrid: u8,
        vip: &str,
        v6: Option<&str>,
        vrrpd_conf: &str,
    ) -> Frr {
        super::require(&[ZEBRA, VRRPD, "vtysh"]);
        let ns = lab.ns(host);
        let mut devs = vec![("4", "01", vip.to_string())];
        devs.extend(v6.map(|a| ("6", "02", a.to_string())));
        for (fam, f, addr) in devs {
            let dev = format!("vrrp{fam}-2-{vrid}");
            let mac = format!("00:00:5e:00:{f}:{vrid:02x}");
            sh(&[
                "ip", "-n", &ns, "link", "add", &dev, "link", "eth0", "type", "macvlan", "mode",
                "bridge",
            ]);
            sh(&["ip", "-n", &ns, "link", "set", "dev", &dev, "address", &mac]);
            if fam == "6" {
                sh(&[
                    "ip",
                    "-n",
                    &ns,
                    "link",
                    "set",
                    "dev",
                    &dev,
                    "addrgenmode",
                    "random",
                ]);
            }
            sh(&["ip", "-n", &ns, "addr", "add", &addr, "dev", &dev, "nodad"]);
            sh(&["ip", "-n", &ns, "link", "set", &dev, "up"]);
        }
        let dir = lab.dir.join(format!("frr-{host}"));
        std::fs::create_dir_all(&dir).unwrap();
        sh(&["chown", "frr:frr", dir.to_str().unwrap()]);
        let d = dir.to_str().unwrap().to_owned();
        std::fs::write(dir.join("zebra.conf"), "").unwrap();
        std::fs::write(dir.join("vrrpd.conf"), vrrpd_conf).unwrap();
        let common = |daemon: &str| -> Vec<String> {
            vec![
                "-f".into(),
                format!("{d}/{daemon}.conf"),
                "-i".into(),
                format!("{d}/{daemon}.pid"),
                "-z".into(),
                format!("{d}/zserv.api"),
                "--vty_socket".into(),
                d.clone(),
                "-u".into(),
                "frr".into(),
                "-g".into(),
                "frr".into(),
            ]
        };
        let mut z = vec![ZEBRA.to_string()];
        z.extend(common("zebra"));
        let z: Vec<&str> = z.iter().map(String::as_str).collect();
        lab.spawn(host, &format!("zebra-{host}.log"), &z);
        let sock = dir.join("zserv.api");
        wait_for(Duration::from_secs(10), "zebra's socket", || sock.exists());
        let mut v = vec![VRRPD.to_string()];
        v.extend(common("vrrpd"));
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        lab.spawn(host, &format!("vrrpd-{host}.log"), &v);
        let frr = Frr {
            host: host.to_string(),
            dir,
        };
        wait_for(Duration::from_secs(10), "vrrpd's vty", || {
            sh_ok(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "vtysh",
                "--vty_socket",
                &d,
                "-d",
                "vrrpd",
                "-c",
                "show vrrp",
            ])
        });
        frr
    }

    /// Runs vtysh commands against vrrpd.
    pub fn vtysh(&self, lab: &Lab, cmds: &[&str]) -> String {
        let ns = lab.ns(&self.host);
        let d = self.dir.to_str().unwrap();
        let mut a = vec!["ip", "netns", "exec", &ns, "vtysh", "--vty_socket", d];
        for c in cmds {
            a.push("-c");
            a.push(c);
        }
        sh(&a)
    }

    /// vrrpd's IPv4 state of `vrid` (`Master`, `Backup`, `Initialize`).
    pub fn state_v4(&self, lab: &Lab, vrid: u8) -> String {
        self.state(lab, vrid, "v4")
    }

    /// vrrpd's state of `vrid` for `fam` (`v4` or `v6`).
    pub fn state(&self, lab: &Lab, vrid: u8, fam: &str) -> String {
        let key = format!("Status ({fam})");
        self.vtysh(lab, &[&format!("show vrrp interface eth0 {vrid}")])
            .lines()
            .find(|l| l.trim_start().starts_with(&key))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or("")
            .to_string()
    }
}
