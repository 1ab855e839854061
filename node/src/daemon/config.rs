//! The daemon's configuration file (`serve --config FILE`, TOML): every option of `serve` and of
//! the logs, checked before anything starts. Options given on the command line win.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The whole file. Unknown keys are refused (a misspelt option must not be silently ignored).
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The unit's data folder (the store, keys and certificates).
    pub data: Option<PathBuf>,
    #[serde(default)]
    pub serve: ServeConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// `[limits]`: what one authenticated peer may cost a hub (see `admission::Limits`).
    #[serde(default)]
    pub limits: crate::federation::admission::Limits,
}

/// `[serve]`: what the daemon listens on.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// A hub: where it accepts its children (gRPC over mutual TLS), host:port.
    pub listen: Option<String>,
    /// A hub: its address as its children and its parent dial it, https://host:port.
    pub advertise: Option<String>,
    /// The web pages (sign-in required), host:port.
    pub http: Option<String>,
    /// Serve the web pages over TLS with this certificate chain (PEM, the server's first).
    pub https_cert: Option<PathBuf>,
    /// The private key (PEM) of `https_cert`.
    pub https_key: Option<PathBuf>,
    /// Reverse proxies in front of the pages whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// `/metrics` and `/healthz` for the operator (no sign-in), host:port.
    pub metrics: Option<String>,
    /// A hub: whether its children's camera ledgers travel on to its parent.
    pub forward_ledgers: Option<bool>,
}

/// `[log]`: the daemon's log lines on stderr.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json` (one JSON object a line).
    pub format: Option<String>,
    /// A filter such as `info` or `warn,yinglian_node::federation::sync=debug`.
    pub level: Option<String>,
}

impl Config {
    /// Reads and checks `path`; the error names the file, and the line and key at fault.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("无法读取配置文件 {}", path.display()))?;
        let c: Config = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}：配置文件格式有误：{e}", path.display()))?;
        c.validate()
            .map_err(|e| anyhow::anyhow!("{}：{e}", path.display()))?;
        Ok(c)
    }

    /// Every option's value makes sense on its own.
    pub fn validate(&self) -> Result<()> {
        let s = &self.serve;
        for (key, v) in [
            ("serve.listen", &s.listen),
            ("serve.http", &s.http),
            ("serve.metrics", &s.metrics),
        ] {
            if let Some(v) = v {
                check_bind(key, v)?;
            }
        }
        if let Some(a) = &s.advertise {
            let rest = a.strip_prefix("https://").with_context(|| {
                format!("serve.advertise 须写成 https://主机:端口，而不是“{a}”")
            })?;
            match rest.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
                _ => bail!("serve.advertise 须写成 https://主机:端口，而不是“{a}”"),
            }
            if s.listen.is_none() {
                bail!("serve.advertise 是上级节点的对外地址：请同时填写 serve.listen");
            }
        }
        match (&s.https_cert, &s.https_key) {
            (Some(_), None) | (None, Some(_)) => {
                bail!("serve.https_cert 和 serve.https_key 须同时填写或都不填")
            }
            (Some(_), Some(_)) if s.http.is_none() => {
                bail!("serve.https_cert 用于网页：请同时填写 serve.http")
            }
            _ => {}
        }
        if let Some(f) = &self.log.format
            && f != "text"
            && f != "json"
        {
            bail!("log.format 须为 “text” 或 “json”，而不是“{f}”");
        }
        if let Some(l) = &self.log.level {
            tracing_subscriber::EnvFilter::try_new(l)
                .map_err(|e| anyhow::anyhow!("log.level “{l}”不是有效的日志级别：{e}"))?;
        }
        if let Some(d) = &self.data
            && d.as_os_str().is_empty()
        {
            bail!("data 须是一个文件夹，不能为空");
        }
        self.limits
            .validate()
            .map_err(|e| anyhow::anyhow!("limits：{e}"))?;
        Ok(())
    }
}

fn check_bind(key: &str, v: &str) -> Result<()> {
    if v.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    match v.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok() =>
        {
            Ok(())
        }
        _ => bail!("{key} 须写成 主机:端口（例如 0.0.0.0:7443），而不是“{v}”"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config> {
        let c: Config = toml::from_str(t)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn every_example_config_of_the_deploy_kit_is_valid() {
        for (name, text) in [
            (
                "city-hub.toml",
                include_str!("../../../deploy/config/city-hub.toml"),
            ),
            (
                "district-hub.toml",
                include_str!("../../../deploy/config/district-hub.toml"),
            ),
            (
                "institution-node.toml",
                include_str!("../../../deploy/config/institution-node.toml"),
            ),
        ] {
            let c = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(c.data.is_some(), "{name} names its data folder");
        }
    }

    #[test]
    fn the_pages_over_https_take_a_certificate_and_its_key() {
        let c = parse(
            "[serve]\nhttp = \"0.0.0.0:8443\"\nhttps_cert = \"/etc/yl/web.crt\"\nhttps_key = \"/etc/yl/web.key\"",
        )
        .unwrap();
        assert_eq!(
            c.serve.https_key.as_deref(),
            Some(Path::new("/etc/yl/web.key"))
        );
    }

    #[test]
    fn bad_options_are_refused_with_the_key() {
        for (text, says) in [
            ("[serve]\nlisten = \"7443\"", "serve.listen"),
            (
                "[serve]\nlisten = \"0.0.0.0:7443\"\nadvertise = \"hub:7443\"",
                "serve.advertise",
            ),
            (
                "[serve]\nadvertise = \"https://hub:7443\"",
                "请同时填写 serve.listen",
            ),
            ("[log]\nformat = \"xml\"", "log.format"),
            ("[log]\nlevel = \"info,[[\"", "log.level"),
            ("[serve]\nlisen = \"0.0.0.0:7443\"", "lisen"),
            ("data = 3", "data"),
            (
                "[serve]\nhttp = \"0.0.0.0:8443\"\nhttps_cert = \"/etc/yl/web.crt\"",
                "须同时填写或都不填",
            ),
            (
                "[serve]\nhttps_cert = \"/etc/yl/web.crt\"\nhttps_key = \"/etc/yl/web.key\"",
                "请同时填写 serve.http",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_file_error_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hub.toml");
        std::fs::write(&p, "data = \"/x\"\n[serve]\nhttp = 8080\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("hub.toml") && e.contains("line 3"), "{e}");
        let missing = Config::load(&dir.path().join("none.toml")).unwrap_err();
        assert!(format!("{missing:#}").contains("none.toml"));
    }
}
