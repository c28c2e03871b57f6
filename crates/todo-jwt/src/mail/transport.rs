//! How a message leaves: over SMTP, or as an `.eml` file in the data directory.

use std::{
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    transport::smtp::{
        self,
        client::{Certificate, Tls, TlsParameters},
    },
};

/// Where messages go.
#[derive(Clone)]
pub enum Transport {
    /// `.eml` files in this directory (mode 0600): the default, without a mail server.
    Files(PathBuf),
    /// An SMTP server (`TODO_JWT_SMTP_URL`).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Transport {
    // The SMTP URL may hold a password: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Files(directory) => f.debug_tuple("Files").field(directory).finish(),
            Self::Smtp(_) => f.write_str("Smtp(..)"),
        }
    }
}

/// Why the configured SMTP transport cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// lettre refused the URL or the TLS settings.
    #[error(transparent)]
    Smtp(#[from] smtp::Error),
    /// The URL does not parse.
    #[error(transparent)]
    Url(#[from] url::ParseError),
}

/// Why a message did not leave.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The server refused it for good (a 5xx answer, an invalid address): not retried.
    #[error("refused: {0}")]
    Permanent(String),
    /// Worth another attempt later (a 4xx answer, a server down, a full disk).
    #[error("{0}")]
    Transient(String),
}

impl Transport {
    /// SMTP at `url` when given (`smtp://host:port` plain, `smtp://...?tls=required` STARTTLS,
    /// `smtps://user:pass@host` implicit TLS; the server's certificate chains to the system's
    /// roots or to one of `ca`, PEM), else files under `data_dir/mail`.
    pub fn new(url: Option<&str>, ca: Option<&[u8]>, data_dir: &Path) -> Result<Self, SetupError> {
        let Some(url) = url else {
            return Ok(Self::Files(data_dir.join("mail")));
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(std::time::Duration::from_secs(10)));
        if let Some(ca) = ca {
            builder = builder.tls(tls_with(&url::Url::parse(url)?, ca)?);
        }
        Ok(Self::Smtp(builder.build()))
    }

    /// Sends `message` (the outbox's `id`); where it went, for the log.
    pub async fn send(&self, message: &Message, id: i64) -> Result<String, TransportError> {
        match self {
            Self::Smtp(smtp) => match smtp.send(message.clone()).await {
                Ok(_) => Ok("smtp".to_owned()),
                Err(error) if error.is_permanent() => {
                    Err(TransportError::Permanent(error.to_string()))
                }
                Err(error) => Err(TransportError::Transient(error.to_string())),
            },
            Self::Files(directory) => {
                let directory = directory.clone();
                let bytes = message.formatted();
                tokio::task::spawn_blocking(move || write_eml(&directory, id, &bytes))
                    .await
                    .map_err(|error| TransportError::Transient(error.to_string()))?
                    .map_err(|error| TransportError::Transient(error.to_string()))
            }
        }
    }
}

/// The TLS mode of `url` (as lettre reads it), with `ca`'s certificates trusted as well.
fn tls_with(url: &url::Url, ca: &[u8]) -> Result<Tls, smtp::Error> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let parameters = TlsParameters::builder(host)
        .add_root_certificate(Certificate::from_pem(ca)?)
        .build_rustls()?;
    let mode = url
        .query_pairs()
        .find(|(key, _)| key == "tls")
        .map(|(_, value)| value.into_owned());
    Ok(match (url.scheme(), mode.as_deref()) {
        ("smtps", _) => Tls::Wrapper(parameters),
        (_, Some("opportunistic")) => Tls::Opportunistic(parameters),
        (_, Some("required")) => Tls::Required(parameters),
        _ => Tls::None,
    })
}

/// Writes message `id` as `directory/message-<id>.eml`, readable by the owner only.
fn write_eml(directory: &Path, id: i64, bytes: &[u8]) -> std::io::Result<String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory)?;
    let path = directory.join(format!("message-{id}.eml"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(path.display().to_string())
}
