//! The mail settings: where mail leaves through, who it is from, where its links point.

use lettre::message::Mailbox;

use super::{Config, ConfigError};

/// The mail settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The SMTP server's URL (it may hold a password: never logged); `None`: `.eml` files.
    pub smtp_url: Option<String>,
    /// CA certificates (PEM) the SMTP server's certificate may chain to, besides the system's.
    pub smtp_ca: Option<Vec<u8>>,
    /// The sender.
    pub from: Mailbox,
    /// The origin links point to, without a trailing slash; `None`: the address the service
    /// listens on, once bound.
    pub public_url: Option<String>,
    /// Whether a login needs a proven address.
    pub require_verified_email: bool,
    /// The issuer authenticator apps show.
    pub totp_issuer: String,
}

impl MailSettings {
    /// From `config`.
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        let from = config
            .mail_from
            .parse::<Mailbox>()
            .map_err(|error| ConfigError::Mail {
                setting: "TODO_JWT_MAIL_FROM",
                reason: format!("{:?} is not an address ({error})", config.mail_from),
            })?;
        let public_url = match &config.public_url {
            Some(url) => {
                let origin = url.trim_end_matches('/');
                let plain = origin
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '#' | '?' | '"' | '<' | '>'));
                let scheme = origin.starts_with("http://") || origin.starts_with("https://");
                if !plain || !scheme || origin.len() > 2048 {
                    return Err(ConfigError::Mail {
                        setting: "TODO_JWT_PUBLIC_URL",
                        reason: format!(
                            "{url:?} is not an http(s) origin (https://todo.example.com)"
                        ),
                    });
                }
                Some(origin.to_owned())
            }
            None => None,
        };
        let totp_issuer = config.totp_issuer.trim().to_owned();
        if totp_issuer.is_empty() || totp_issuer.len() > 64 || totp_issuer.contains(':') {
            return Err(ConfigError::Mail {
                setting: "TODO_JWT_TOTP_ISSUER",
                reason: "1 to 64 characters, without `:`".to_owned(),
            });
        }
        let smtp_url = config.smtp_url.clone().filter(|url| !url.is_empty());
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(ConfigError::Mail {
                setting: "TODO_JWT_SMTP_URL",
                reason: "not an smtp:// or smtps:// URL (smtp://127.0.0.1:2525, \
                         smtps://user:password@mail.example.com)"
                    .to_owned(),
            });
        }
        let smtp_ca = match &config.smtp_ca_file {
            Some(path) => {
                let refused = |reason: String| ConfigError::Mail {
                    setting: "TODO_JWT_SMTP_CA_FILE",
                    reason: format!("{}: {reason}", path.display()),
                };
                let pem = std::fs::read(path).map_err(|error| refused(error.to_string()))?;
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(refused("no PEM certificate in it".to_owned()));
                }
                let tls = smtp_url.as_deref().is_some_and(|url| {
                    url.starts_with("smtps://")
                        || url.contains("tls=required")
                        || url.contains("tls=opportunistic")
                });
                if !tls {
                    return Err(refused(
                        "set only with a TLS URL in TODO_JWT_SMTP_URL (smtps://..., or \
                         smtp://...?tls=required): without TLS no certificate is checked"
                            .to_owned(),
                    ));
                }
                Some(pem)
            }
            None => None,
        };
        Ok(Self {
            smtp_url,
            smtp_ca,
            from,
            public_url,
            require_verified_email: config.require_verified_email,
            totp_issuer,
        })
    }
}
