//! TLS to PostgreSQL, with libpq's `sslmode` names, through rustls:
//!
//! | `sslmode` | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` | no | - |
//! | `prefer` | if the server offers it | no |
//! | `require` | yes | no (as libpq; with `sslrootcert`, as `verify-ca`) |
//! | `verify-ca` | yes | chain, against `sslrootcert` or the system's roots |
//! | `verify-full` | yes | chain and host name |
//!
//! Without `sslmode`: `disable` for a loopback host or a Unix socket (TLS there protects
//! nothing and costs every query), `prefer` for any other host, as libpq. `tokio-postgres`
//! knows only `disable`/`prefer`/`require`, so the URL's `sslmode` and `sslrootcert` are read
//! here and taken out before it parses the rest.

use std::{path::PathBuf, sync::Arc};

use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature},
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};
use tokio_postgres::config::{Host, SslMode};

use crate::store::StoreError;

/// libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// What the URL says about TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `None` when the URL does not say.
    pub mode: Option<Mode>,
    /// `sslrootcert`: PEM file of the certificates to trust.
    pub root_certificates: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of `url`: the URL left for `tokio-postgres`, and the
/// settings.
pub fn split_url(url: &str) -> Result<(String, Settings), StoreError> {
    let invalid = |message: String| StoreError::Url(message.into());
    let mut settings = Settings {
        mode: None,
        root_certificates: None,
    };
    let url = super::take_params(url, |key, value| {
        match key {
            "sslmode" => {
                settings.mode = Some(match value {
                    "disable" => Mode::Disable,
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(invalid(format!(
                            "sslmode={other}: expected disable, prefer, require, verify-ca or \
                             verify-full"
                        )));
                    }
                });
            }
            "sslrootcert" => settings.root_certificates = Some(PathBuf::from(value)),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok((url, settings))
}

/// Whether every host is on this machine (loopback, `localhost`, or a Unix socket).
pub fn all_local(hosts: &[Host]) -> bool {
    hosts.iter().all(|host| match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|address| address.is_loopback())
        }
    })
}

impl Settings {
    /// The mode in force: the URL's, or the default for these hosts.
    pub fn mode_for(&self, hosts: &[Host]) -> Mode {
        self.mode
            .unwrap_or(if hosts.is_empty() || all_local(hosts) {
                Mode::Disable
            } else {
                Mode::Prefer
            })
    }

    /// `tokio-postgres`'s mode, and the rustls configuration (none for `disable`).
    pub fn client_config(&self, mode: Mode) -> Result<(SslMode, Option<ClientConfig>), StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|error| StoreError::Tls(error.to_string()))?;
        let check_chain = match mode {
            Mode::Disable => return Ok((SslMode::Disable, None)),
            Mode::Prefer => false,
            // libpq: `require` with a root certificate file checks the chain.
            Mode::Require => self.root_certificates.is_some(),
            Mode::VerifyCa | Mode::VerifyFull => true,
        };
        let verifier: Arc<dyn ServerCertVerifier> = if check_chain {
            let roots = Arc::new(self.roots()?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                .build()
                .map_err(|error| StoreError::Tls(error.to_string()))?;
            if mode == Mode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        } else {
            Arc::new(Unverified(provider.signature_verification_algorithms))
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let ssl_mode = if mode == Mode::Prefer {
            SslMode::Prefer
        } else {
            SslMode::Require
        };
        Ok((ssl_mode, Some(config)))
    }

    /// The certificates to trust: `sslrootcert`, or the system's.
    fn roots(&self) -> Result<RootCertStore, StoreError> {
        let mut roots = RootCertStore::empty();
        match &self.root_certificates {
            Some(path) => {
                let certificates = CertificateDer::pem_file_iter(path)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|error| {
                        StoreError::Tls(format!(
                            "cannot read sslrootcert {}: {error}",
                            path.display()
                        ))
                    })?;
                let (added, _) = roots.add_parsable_certificates(certificates);
                if added == 0 {
                    return Err(StoreError::Tls(format!(
                        "sslrootcert {} holds no usable certificate",
                        path.display()
                    )));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(StoreError::Tls(
                        "no system root certificates found: give sslrootcert=<file.pem>".into(),
                    ));
                }
            }
        }
        Ok(roots)
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without roots, as libpq: encrypted, certificate not checked (the
/// handshake's signatures still are).
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use tokio_postgres::config::Host;

    use super::{Mode, all_local, split_url};

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url() {
        let (url, settings) = split_url(
            "postgres://u@db.example.com/app?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        )
        .expect("valid");
        assert_eq!(url, "postgres://u@db.example.com/app?application_name=x");
        assert_eq!(settings.mode, Some(Mode::VerifyFull));
        assert_eq!(
            settings.root_certificates.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert!(split_url("postgres://h/d?sslmode=sometimes").is_err());
        let (url, settings) = split_url("postgres://h/d").expect("valid");
        assert_eq!((url.as_str(), settings.mode), ("postgres://h/d", None));
    }

    #[test]
    fn only_remote_hosts_default_to_tls() {
        let tcp = |name: &str| Host::Tcp(name.to_owned());
        assert!(all_local(&[
            tcp("127.0.0.1"),
            tcp("localhost"),
            tcp("[::1]")
        ]));
        assert!(!all_local(&[tcp("127.0.0.1"), tcp("db.example.com")]));
        let (_, settings) = split_url("postgres://h/d").expect("valid");
        assert_eq!(settings.mode_for(&[tcp("127.0.0.1")]), Mode::Disable);
        assert_eq!(settings.mode_for(&[tcp("10.0.0.5")]), Mode::Prefer);
    }
}
