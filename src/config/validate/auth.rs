//! `authentication`: the VRRPv2 simple-text password.

use super::super::model::Version;
use super::super::node::Node;
use super::common::{Ctx, fields, string};

const AUTH_KEYS: &[&str] = &["type", "password"];

/// `Some(None)` = no authentication; `None` = error reported.
pub(super) fn authentication(
    cx: &mut Ctx,
    inst: &str,
    key: &Node,
    v: &Node,
    version: Option<Version>,
) -> Option<Option<String>> {
    let what = format!("{inst}: authentication");
    if version == Some(Version::V3) {
        cx.err(
            key,
            format!("{what}: not supported with version 3 (RFC 5798 removed it); remove it or set `version: 2`"),
        );
        return None;
    }
    let f = fields(cx, v, key, AUTH_KEYS, &what)?;
    let kind = f
        .required(cx, "type")
        .and_then(|t| match t.as_text().as_deref() {
            Some("pass") => Some(true),
            Some("none") => Some(false),
            _ => {
                let shown = t.as_text().unwrap_or_else(|| t.describe().to_owned());
                cx.err(
                    t,
                    format!("{what}: type: expected `pass` or `none`, found `{shown}`"),
                );
                None
            }
        })?;
    if !kind {
        if let Some((pk, _)) = f.get("password") {
            cx.err(
                pk,
                format!("{what}: password is not used with `type: none`"),
            );
            return None;
        }
        return Some(None);
    }
    let pv = f.required(cx, "password")?;
    let pw = string(cx, pv, &format!("{what}: password"))?;
    if pw.is_empty() || pw.len() > 8 {
        cx.err(
            pv,
            format!("{what}: password must be 1 to 8 bytes, it is {}", pw.len()),
        );
        return None;
    }
    Some(Some(pw))
}
